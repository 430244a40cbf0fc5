import CorralProtocol
import CorralStorage
import DomainXML
import Foundation
import Glibc

/// The overlays of `<transient/>` disks: a qcow2 image next to each disk's image
/// (`IMAGE.TRANSIENT-DOMAIN`, libvirt's name), made before QEMU starts, which QEMU opens on top
/// of the image (read-only below it) and the guest writes; deleted when the guest stops, so the
/// image is as it was after every run.
///
/// libvirt adds the overlay once QEMU runs (a `blockdev-snapshot`, or with `shareBacking` a
/// disk plugged in and a reset); Corral makes it first and names it on QEMU's command line,
/// which works the same for both kinds and keeps the disk's boot order. See docs/decisions.md,
/// "Transient disks".
enum TransientOverlays {
    /// One disk's overlay to make.
    struct Planned: Sendable {
        var target: String
        var image: String
        var format: VolumeFormat
        var overlay: String
    }

    /// The overlays `disks` of the domain `domainName` need; a transient disk Corral cannot give
    /// one is refused.
    static func plan(_ disks: [DomainDefinition.Disk], domainName: String) throws(RemoteError) -> [Planned] {
        var planned: [Planned] = []
        for disk in disks {
            guard let overlay = disk.transientOverlayPath(domainName: domainName), let image = disk.source else { continue }
            if disk.encryption != nil {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "transient disk '\(disk.targetDevice)' with <encryption> is not supported")
            }
            guard let format = VolumeFormat(rawValue: disk.format ?? "raw") else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "transient disk '\(disk.targetDevice)' has image format '\(disk.format ?? "")', which qemu-img does not know")
            }
            planned.append(Planned(target: disk.targetDevice, image: image, format: format, overlay: overlay))
        }
        return planned
    }

    /// Makes the overlays (blocking: run it off the event loops); none is left when one fails.
    static func create(_ overlays: [Planned]) throws(RemoteError) {
        var made: [String] = []
        for planned in overlays {
            // An overlay already there may be another guest's, or hold a crashed run's writes:
            // never overwritten (libvirt's rule).
            if access(planned.overlay, F_OK) == 0 {
                remove(made)
                throw RemoteError(
                    code: .operationUnsupported, domain: .qemu,
                    detail: "Overlay file '\(planned.overlay)' for transient disk '\(planned.target)' already exists")
            }
            do throws(StorageError) {
                try QemuImg.create(path: planned.overlay, format: .qcow2, capacity: nil, backing: (planned.image, planned.format), options: [])
            } catch {
                remove(made)
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot create the overlay of transient disk '\(planned.target)': \(error.message)")
            }
            made.append(planned.overlay)
        }
    }

    /// Deletes overlays (blocking); one already gone is no error.
    static func remove(_ paths: [String]) {
        for path in paths { unlink(path) }
    }
}

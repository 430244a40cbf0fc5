import CorralProtocol
import CorralStorage

/// Finds the file behind a domain's `<disk type='volume'>` (`<source pool= volume=>`), as
/// libvirt's `virStorageTranslateDiskSourcePool` does at start.
struct VolumeResolver: Sendable {
    /// What a volume disk becomes on QEMU's command line.
    struct Volume: Sendable, Hashable {
        var path: String
        var isBlock: Bool
        /// The volume's image format, when it has one QEMU opens (`raw`, `qcow2`, …).
        var format: String?
    }

    let registry: StorageRegistry

    /// The volume `volume` of the active pool `pool`, or libvirt's error.
    func resolve(pool: String, volume: String) throws(RemoteError) -> Volume {
        guard let record = registry.pool(named: pool) else {
            throw RemoteError(code: .noStoragePool, domain: .storage, detail: "no storage pool with matching name '\(pool)'")
        }
        guard record.isActive else {
            throw RemoteError(code: .operationInvalid, domain: .storage, detail: "storage pool '\(pool)' containing volume '\(volume)' is not active")
        }
        guard let found = record.volume(named: volume) else {
            throw RemoteError(code: .noStorageVolume, domain: .storage, detail: "no storage vol with matching name '\(volume)'")
        }
        guard found.type == .file || found.type == .block else {
            throw RemoteError(code: .configUnsupported, domain: .storage, detail: "volume '\(volume)' of type '\(found.type.rawValue)' cannot back a disk")
        }
        let format: String? = switch found.format {
        case .raw?, .qcow2?, .qcow?, .qed?, .vmdk?, .vdi?, .vpc?: found.format?.rawValue
        case .iso?: "raw"
        default: nil
        }
        return Volume(path: found.path, isBlock: found.type == .block, format: format)
    }
}

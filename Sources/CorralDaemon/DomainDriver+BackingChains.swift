import CorralProtocol
import CorralStorage
import DomainXML
import Foundation

extension DomainDriver {
    /// Before QEMU opens a guest's disks at start: libvirt's checks of each local disk's backing
    /// chain (`qemuDomainDetermineDiskChain`, ``BackingChainCheck``), and the layers found in
    /// the headers added to each disk's chain
    /// (``DomainDefinition/Disk/BackingStore/detected``), as libvirt adds them: QEMU then opens
    /// exactly the images checked, each with the format checked, and the live XML lists them.
    nonisolated static func detectBackingChains(_ definition: DomainDefinition) throws(RemoteError) -> DomainDefinition {
        var detected = definition
        for index in detected.devices.disks.indices {
            guard let found = try BackingChainCheck.check(detected.devices.disks[index], read: BackingChainCheck.readHeader) else { continue }
            detected.devices.disks[index].backingChain += found.layers
            detected.devices.disks[index].endsChain = found.ends
        }
        return detected
    }
}

/// One disk's backing chain as its images' headers and its XML describe it, checked before QEMU
/// follows it:
///
/// - the image and every layer the XML describes must be there;
/// - below the last described layer (unless the XML ends the chain with `<backingStore/>`), each
///   backing file the headers name must be there, at most 200 deep;
/// - **a backing file whose header records no format is probed, and refused when the probe finds
///   a backing file of its own** (libvirt's rule): otherwise a guest that can write a raw image
///   used as another's backing could write a qcow2 header naming any host file as its backing,
///   and QEMU, probing, would open that file for the guest.
enum BackingChainCheck {
    /// libvirt's limit (`QEMU_DOMAIN_STORAGE_SOURCE_CHAIN_MAX_DEPTH`).
    static let maximumDepth = 200
    /// The formats whose images can have a backing file.
    static let formatsWithBacking: Set<String> = ["qcow2", "qcow", "qed", "vmdk"]

    /// Reads the first bytes of an image (``ImageHeader/probeLength``); a failure gives `errno`.
    typealias HeaderReader = (String) -> Result<[UInt8], Errno>

    /// An `errno` value.
    struct Errno: Error, Equatable {
        var code: Int32
        var message: String { String(cString: strerror(code)) }
    }

    /// What a run found below a disk's described chain, remembered (and kept in the status
    /// file) so that saved and migrated XML leave it out, as libvirt's do: how many layers.
    struct Remembered: Sendable, Hashable {
        var layers: Int
    }

    /// What the headers add below the chain the XML describes.
    struct Detected {
        /// The layers, top down.
        var layers: [DomainDefinition.Disk.BackingStore]
        /// Whether the last layer has no backing file (else its header names one QEMU opens
        /// itself: a URI or a JSON description).
        var ends: Bool

        var remembered: Remembered? { layers.isEmpty ? nil : Remembered(layers: layers.count) }
    }

    /// What a started definition's disks found, by target.
    static func remembered(_ definition: DomainDefinition) -> [String: Remembered] {
        var found: [String: Remembered] = [:]
        for disk in definition.devices.disks where disk.backingChain.contains(where: \.detected) {
            found[disk.targetDevice] = Remembered(layers: disk.backingChain.filter(\.detected).count)
        }
        return found
    }

    /// Checks `disk`'s chain; returns what its images' headers add to it, when they were read
    /// (`nil`: a disk that is not local, or whose described chain ends, or has a layer that is
    /// not a local image).
    static func check(_ disk: DomainDefinition.Disk, read: HeaderReader) throws(RemoteError) -> Detected? {
        guard disk.type != .network, disk.type != .dir, let image = disk.source else { return nil }
        let ids = "(as uid:\(getuid()), gid:\(getgid()))"
        func brokenChain(_ path: String, _ error: Errno) -> RemoteError {
            let what = path == image ? "Cannot access storage file '\(image)'" : "Cannot access backing file '\(path)' of storage file '\(image)'"
            return RemoteError(code: .systemError, domain: .qemu, detail: "\(what) \(ids): \(error.message)")
        }
        let format = disk.format ?? "raw"
        // The image, and the layers the XML describes.
        var layers: [(path: String, format: String)] = [(image, format)]
        for layer in disk.backingChain where layer.type == .file || layer.type == .block {
            guard let path = layer.path else { continue }
            layers.append((path, layer.format))
        }
        for (path, _) in layers where access(path, F_OK) != 0 {
            throw brokenChain(path, Errno(code: errno))
        }
        guard !disk.endsChain, layers.count == disk.backingChain.count + 1, var current = layers.last else { return nil }
        // Below them: what the headers say, from the last one down (libvirt counts these
        // from the last described layer, and then the whole chain).
        var found = Detected(layers: [], ends: true)
        var depth = 0
        while formatsWithBacking.contains(current.format) {
            let bytes: [UInt8]
            switch read(current.path) {
            case .success(let read): bytes = read
            case .failure(let error): throw brokenChain(current.path, error)
            }
            let header = ImageHeader.probe(bytes)
            guard header.format.rawValue == current.format, let named = header.backingPath, !named.isEmpty else { return found }
            // A backing file given as a URI or a JSON description is QEMU's to open.
            if named.hasPrefix("json:") || named.contains("://") {
                found.ends = false
                return found
            }
            let path = named.hasPrefix("/") ? named : (current.path as NSString).deletingLastPathComponent + "/" + named
            depth += 1
            guard depth < maximumDepth else {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "backing store for \(path) is self-referential or too deeply nested")
            }
            guard depth + layers.count <= maximumDepth else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "backing chains more than \(maximumDepth) layers deep are not supported for disk '\(disk.targetDevice)'")
            }
            if let recorded = header.backingFormat, recorded != .none {
                current = (path, recorded == .iso ? "raw" : recorded.rawValue)
                found.layers.append(layer(path, format: current.format))
                continue
            }
            // No format recorded: probed, and trusted only when it has no backing file itself.
            let probed: ImageHeader
            switch read(path) {
            case .success(let read): probed = ImageHeader.probe(read)
            case .failure(let error): throw brokenChain(path, error)
            }
            if probed.backingPath?.isEmpty == false {
                throw RemoteError(
                    code: .operationInvalid, domain: .qemu,
                    detail: "format of backing image '\(named)' of image '\(current.path)' was not specified in the image metadata "
                        + "(See https://libvirt.org/kbase/backing_chains.html for troubleshooting)")
            }
            // The probed format is the one QEMU is told (ISO as raw, which QEMU knows it as).
            found.layers.append(layer(path, format: probed.format == .iso ? "raw" : probed.format.rawValue))
            return found
        }
        return found
    }

    /// A layer found in a header: a block device or a file.
    static func layer(_ path: String, format: String) -> DomainDefinition.Disk.BackingStore {
        var status = stat()
        let block = stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFBLK
        var layer = DomainDefinition.Disk.BackingStore(type: block ? .block : .file, format: format, path: path)
        layer.detected = true
        return layer
    }

    /// The first ``ImageHeader/probeLength`` bytes of the file or block device at `path`;
    /// nothing of anything else (a FIFO or a character device would block the read, or never
    /// end it), which then reads as a raw image with no backing file.
    static func readHeader(_ path: String) -> Result<[UInt8], Errno> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failure(Errno(code: errno)) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { return .failure(Errno(code: errno)) }
        guard (status.st_mode & S_IFMT) == S_IFREG || (status.st_mode & S_IFMT) == S_IFBLK else { return .success([]) }
        var bytes = [UInt8](repeating: 0, count: ImageHeader.probeLength)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(filled)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            filled += count
        }
        return .success(Array(bytes[..<filled]))
    }
}

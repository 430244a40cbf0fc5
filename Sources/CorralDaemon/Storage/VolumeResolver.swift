import CorralProtocol
import CorralStorage
import XMLTree

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
    /// Creates a volume in a pool from its XML (the storage driver's `virStorageVolCreateXML`).
    var createVolume: (@Sendable (RemoteStoragePool, String, UInt32) async throws(RemoteError) -> Void)?

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

    /// Creates the missing image `path` of `capacity` bytes in `format` as a volume of the
    /// active pool whose directory holds it, as libvirt's migration destination does for a
    /// storage copy (qcow2 as version 3 with its metadata preallocated).
    func precreate(path: String, capacity: UInt64, format: String) async throws(RemoteError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex || path.count > 1 else {
            throw RemoteError(code: .invalidArgument, domain: .none, detail: "malformed disk path: \(path)")
        }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = String(path[path.index(after: slash)...])
        guard let pool = registry.activePool(targetPath: directory) else {
            throw RemoteError(code: .noStoragePool, domain: .storage, detail: "no storage pool with matching target path '\(directory)'")
        }
        guard let createVolume else {
            throw RemoteError(code: .operationUnsupported, domain: .storage, detail: "cannot create volumes here")
        }
        let compat = format == "qcow2" ? "<compat>1.1</compat>" : ""
        let xml = """
            <volume><name>\(XMLTreeWriter.escape(name, attribute: false))</name><capacity>\(capacity)</capacity>\
            <target><format type='\(XMLTreeWriter.escape(format, attribute: true))'/>\(compat)</target></volume>
            """
        try await createVolume(pool.handle, xml, format == "qcow2" ? VolumeOperations.preallocateMetadata : 0)
    }
}

import CorralJSON
import CorralProtocol
import DomainXML
import QEMUCommandLine

/// A disk whose contents a migration copies (`--copy-storage-all`, `--copy-storage-inc`): the
/// destination's QEMU exports its image over NBD, the source's QEMU mirrors into that export
/// while the guest runs (libvirt's names: export `drive-ALIAS`, source nodes
/// `migration-TARGET-storage` and `-format`, job `drive-ALIAS`).
struct StorageCopyDisk: Sendable, Equatable {
    /// `<target dev>`.
    var target: String
    /// The guest's format node (what is exported or mirrored).
    var formatNode: String
    /// The image on this host.
    var source: String
    /// The image format (`raw` when the XML names none).
    var format: String
    /// The NBD export's name, which is also the mirror job's id.
    var exportName: String

    var mirrorStorageNode: String { "migration-\(target)-storage" }
    var mirrorFormatNode: String { "migration-\(target)-format" }

    /// The disks of a guest a migration copies: those named by `migrate_disks`, or by default
    /// every disk with a source that is neither read-only nor shareable (libvirt's rule).
    static func selection(
        definition: DomainDefinition, devices: GuestDevices, requested: [String]
    ) throws(RemoteError) -> [StorageCopyDisk] {
        for target in requested where !definition.devices.disks.contains(where: { $0.targetDevice == target }) {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "disk target \(target) not found")
        }
        var selected: [StorageCopyDisk] = []
        for (index, disk) in definition.devices.disks.enumerated() where index < devices.disks.count && isCopied(disk, requested: requested) {
            let names = devices.disks[index]
            guard !disk.readonly, let source = names.source else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "Cannot migrate empty or read-only disk \(disk.targetDevice)")
            }
            selected.append(StorageCopyDisk(
                target: disk.targetDevice, formatNode: names.formatNode, source: source, format: names.format ?? "raw",
                exportName: "drive-" + names.alias))
        }
        return selected
    }

    /// Whether a migration copies `disk`: named by `migrate_disks`, or by default every disk
    /// with a source that is neither read-only nor shareable (libvirt's rule).
    static func isCopied(_ disk: DomainDefinition.Disk, requested: [String]) -> Bool {
        requested.isEmpty ? (!disk.shareable && !disk.readonly && disk.source != nil) : requested.contains(disk.targetDevice)
    }

    // MARK: - QMP arguments

    /// `nbd-server-start` on the destination: TCP on `host` (no brackets) and `port` (QEMU's
    /// legacy socket address, with its `data` wrapper), under TLS with `tlsCredentials`.
    static func serverStartArguments(host: String, port: Int, tlsCredentials: String? = nil) -> JSONValue {
        .object([("addr", .object([
            ("type", .string("inet")), ("data", .object([("host", .string(host)), ("port", .string(String(port)))])),
        ]))] + (tlsCredentials.map { [("tls-creds", .string($0))] } ?? []))
    }

    /// `block-export-add` on the destination: the disk, writable, under its export name.
    var exportArguments: JSONValue {
        .object([
            ("type", .string("nbd")), ("id", .string("libvirt-nbd-\(formatNode)")), ("node-name", .string(formatNode)),
            ("writable", .bool(true)), ("name", .string(exportName)),
        ])
    }

    /// The two `blockdev-add`s on the source: the destination's export as an NBD client node,
    /// and a raw format node on it.
    func mirrorTargetArguments(host: String, port: Int, tlsCredentials: String? = nil) -> [JSONValue] {
        [
            .object([
                ("driver", .string("nbd")),
                ("server", .object([("type", .string("inet")), ("host", .string(host)), ("port", .string(String(port)))])),
                ("export", .string(exportName)), ("node-name", .string(mirrorStorageNode)),
            ] + (tlsCredentials.map { [("tls-creds", .string($0))] } ?? [])),
            .object([
                ("node-name", .string(mirrorFormatNode)), ("read-only", .bool(false)), ("driver", .string("raw")),
                ("file", .string(mirrorStorageNode)),
            ]),
        ]
    }

    /// `blockdev-mirror` on the source: the whole disk (`full`) or only its top image (`top`,
    /// for `--copy-storage-inc`), at `speed` bytes per second (0: unlimited); the job stays
    /// after it ends so its outcome can be read.
    func mirrorArguments(incremental: Bool, speed: Int64) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("job-id", .string(exportName)), ("device", .string(formatNode)), ("target", .string(mirrorFormatNode)),
            ("sync", .string(incremental ? "top" : "full")),
        ]
        if speed > 0 { members.append(("speed", .integer(speed))) }
        members += [("auto-finalize", .bool(true)), ("auto-dismiss", .bool(false))]
        return .object(members)
    }
}

/// Where a mirror job stands, from `query-jobs` and `query-block-jobs`.
enum MirrorJobState: Sendable, Equatable {
    /// Copying; `offset` of `length` bytes done.
    case copying(offset: UInt64, length: UInt64)
    /// Caught up: every write now goes to both sides.
    case ready(length: UInt64)
    /// Ended, well or with QEMU's error.
    case concluded(error: String?)
    /// QEMU does not know the job.
    case missing

    /// The state of job `id` in a `query-jobs` reply and a `query-block-jobs` reply.
    static func of(_ id: String, jobs: JSONValue, blockJobs: JSONValue) -> MirrorJobState {
        guard let job = jobs.arrayValue?.first(where: { $0["id"]?.stringValue == id }) else { return .missing }
        let length = job["total-progress"]?.intValue.map { UInt64(max(0, $0)) } ?? 0
        let offset = job["current-progress"]?.intValue.map { UInt64(max(0, $0)) } ?? 0
        switch job["status"]?.stringValue {
        case "concluded", "null":
            return .concluded(error: job["error"]?.stringValue)
        case "ready", "standby":
            return .ready(length: length)
        default:
            let ready = blockJobs.arrayValue?.first(where: { $0["device"]?.stringValue == id })?["ready"]?.boolValue ?? false
            return ready ? .ready(length: length) : .copying(offset: offset, length: length)
        }
    }
}

import CorralProtocol

/// A migration's typed parameters (`VIR_MIGRATE_PARAM_*`), read and checked as libvirt's QEMU
/// driver checks them: each known name with its type, once (but `migrate_disks` and
/// `compression`, which repeat).
struct MigrationParameters: Sendable, Equatable {
    /// `migrate_uri`: where QEMU's stream goes (`tcp:HOST[:PORT]`).
    var uri: String?
    /// `destination_name`.
    var destinationName: String?
    /// `destination_xml`: the definition the destination runs.
    var destinationXML: String?
    /// `persistent_xml`: the definition the destination keeps with `PERSIST_DEST`.
    var persistentXML: String?
    /// `bandwidth`, MiB/s (0: unlimited).
    var bandwidth: UInt64?
    /// `listen_address`: where the destination's QEMU listens.
    var listenAddress: String?
    /// `compression` methods (`xbzrle`, `mt`).
    var compression: [String] = []
    /// `compression.xbzrle.cache`, bytes.
    var xbzrleCache: UInt64?
    /// `auto_converge.initial` and `.increment`, percent.
    var autoConvergeInitial: Int32?
    var autoConvergeIncrement: Int32?
    /// `parallel.connections`.
    var parallelConnections: Int32?
    /// `migrate_disks`: the targets of the disks a storage copy takes (default: every disk with
    /// a source that is neither read-only nor shareable).
    var disks: [String] = []
    /// `disks_port`: the port of the destination's NBD server for the storage copy.
    var disksPort: Int32?
    /// `tls.destination`: the host name the destination's certificate must carry (with
    /// `VIR_MIGRATE_TLS`), when not the migration URI's host.
    var tlsDestination: String?


    /// Names libvirt 9.0 knows, with their types; Corral uses those above and refuses the
    /// others it cannot honour by name.
    static let schema: [String: TypedParameter.Kind] = [
        "migrate_uri": .string, "destination_name": .string, "destination_xml": .string, "persistent_xml": .string, "bandwidth": .unsignedLongLong,
        "bandwidth.postcopy": .unsignedLongLong, "graphics_uri": .string, "listen_address": .string, "migrate_disks": .string, "disks_port": .int,
        "disks_uri": .string, "compression": .string, "compression.mt.level": .int, "compression.mt.threads": .int, "compression.mt.dthreads": .int,
        "compression.xbzrle.cache": .unsignedLongLong, "auto_converge.initial": .int, "auto_converge.increment": .int,
        "parallel.connections": .int, "tls.destination": .string,
    ]
    static let repeatable: Set<String> = ["migrate_disks", "compression"]
    /// Known, but not carried out: refused rather than ignored.
    static let notCarriedOut: Set<String> = [
        "bandwidth.postcopy", "graphics_uri", "disks_uri", "compression.mt.level", "compression.mt.threads",
        "compression.mt.dthreads",
    ]

    init() {}

    /// Reads `parameters`; an unknown name, a wrong type or a repeat is libvirt's error.
    init(_ parameters: [TypedParameter]) throws(RemoteError) {
        var seen = Set<String>()
        for parameter in parameters {
            guard let expected = Self.schema[parameter.field] else {
                throw RemoteError(code: .argumentUnsupported, domain: .none, detail: TypedParameterProblem.unsupported(parameter.field).message)
            }
            guard parameter.value.kind == expected else {
                let problem = TypedParameterProblem.wrongType(field: parameter.field, given: parameter.value.kind, expected: expected)
                throw RemoteError(code: .invalidArgument, domain: .none, detail: problem.message)
            }
            guard seen.insert(parameter.field).inserted || Self.repeatable.contains(parameter.field) else {
                throw RemoteError(code: .invalidArgument, domain: .none, detail: TypedParameterProblem.repeated(parameter.field).message)
            }
            if Self.notCarriedOut.contains(parameter.field) {
                throw RemoteError(code: .argumentUnsupported, domain: .qemu, detail: "migration parameter '\(parameter.field)' is not supported by Corral")
            }
            switch (parameter.field, parameter.value) {
            case ("migrate_uri", .string(let value)): uri = value
            case ("destination_name", .string(let value)): destinationName = value
            case ("destination_xml", .string(let value)): destinationXML = value
            case ("persistent_xml", .string(let value)): persistentXML = value
            case ("bandwidth", .unsignedLongLong(let value)): bandwidth = value
            case ("listen_address", .string(let value)): listenAddress = value
            case ("compression", .string(let value)):
                guard value == "xbzrle" else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "Unsupported compression method '\(value)'")
                }
                compression.append(value)
            case ("compression.xbzrle.cache", .unsignedLongLong(let value)): xbzrleCache = value
            case ("auto_converge.initial", .int(let value)): autoConvergeInitial = value
            case ("auto_converge.increment", .int(let value)): autoConvergeIncrement = value
            case ("parallel.connections", .int(let value)):
                guard (1...255).contains(value) else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "parallel.connections must be from 1 to 255")
                }
                parallelConnections = value
            case ("migrate_disks", .string(let value)): disks.append(value)
            case ("tls.destination", .string(let value)):
                guard !value.isEmpty, value.utf8.count <= 255, !value.contains(where: { $0 == "\0" }) else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "invalid tls.destination '\(value)'")
                }
                tlsDestination = value
            case ("disks_port", .int(let value)):
                guard (0...65535).contains(value) else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "nbd port must be in range 0-65535")
                }
                disksPort = value == 0 ? nil : value
            default: break
            }
        }
        if let bandwidth, bandwidth > Self.maximumBandwidth {
            throw RemoteError(code: .overflow, domain: .qemu, detail: "bandwidth must be less than \(Self.maximumBandwidth + 1)")
        }
        for value in [autoConvergeInitial, autoConvergeIncrement].compactMap({ $0 }) where !(0...100).contains(value) {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "auto_converge percentages must be from 0 to 100")
        }
    }

    /// The largest bandwidth in MiB/s QEMU takes in bytes (libvirt's `QEMU_DOMAIN_MIG_BANDWIDTH_MAX`).
    static let maximumBandwidth: UInt64 = UInt64(Int64.max) / (1 << 20)

    /// The parameters of the older calls (`MIGRATE_BEGIN3`…), which carry a few as arguments.
    init(uri: String?, destinationName: String?, destinationXML: String?, bandwidth: UInt64) throws(RemoteError) {
        self.uri = uri
        self.destinationName = destinationName
        self.destinationXML = destinationXML
        self.bandwidth = bandwidth == 0 ? nil : bandwidth
        if bandwidth > Self.maximumBandwidth {
            throw RemoteError(code: .overflow, domain: .qemu, detail: "bandwidth must be less than \(Self.maximumBandwidth + 1)")
        }
    }
}

extension MigrationFlags {
    /// libvirt's refusal of a flag Corral does not carry out, or of a combination it forbids
    /// (with `parameters`, also of parameters the flags do not allow).
    func check(_ parameters: MigrationParameters = MigrationParameters()) throws(RemoteError) {
        let unknown = subtracting(.known)
        guard unknown.isEmpty else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unsupported flags (0x\(String(unknown.rawValue, radix: 16))) in function qemuDomainMigrateBegin3Params")
        }
        for (flag, name) in Self.names where contains(flag) {
            throw RemoteError(code: .argumentUnsupported, domain: .qemu, detail: "migration flag \(name) is not supported by Corral")
        }
        if contains(.tunnelled) && !contains(.peerToPeer) {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "migration flag VIR_MIGRATE_TUNNELLED requires VIR_MIGRATE_PEER2PEER")
        }
        if contains(.tunnelled) && contains(.parallel) {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "parallel migration is not supported with tunnelled migration")
        }
        if contains(.nonSharedDisk) && contains(.nonSharedIncremental) {
            throw RemoteError(
                code: .invalidArgument, domain: .none,
                detail: "Flags 'VIR_MIGRATE_NON_SHARED_DISK' and 'VIR_MIGRATE_NON_SHARED_INC' are mutually exclusive")
        }
        if contains(.tls) && contains(.tunnelled) {
            throw RemoteError(
                code: .operationUnsupported, domain: .qemu,
                detail: "migration with VIR_MIGRATE_TLS is not supported with tunnelled migration by Corral (the daemons' connection carries the stream)")
        }
        if parameters.tlsDestination != nil && !contains(.tls) {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "tls.destination requires VIR_MIGRATE_TLS")
        }
        if copiesStorage && contains(.tunnelled) {
            throw RemoteError(
                code: .operationUnsupported, domain: .qemu, detail: "migration of non-shared storage is not supported with tunnelled migration")
        }
        if !copiesStorage && !parameters.disks.isEmpty {
            throw RemoteError(
                code: .invalidArgument, domain: .qemu,
                detail: "use of 'VIR_MIGRATE_PARAM_MIGRATE_DISKS' requires use of 'VIR_MIGRATE_NON_SHARED_DISK' or 'VIR_MIGRATE_NON_SHARED_INC' flag")
        }
        if contains(.postcopy) && contains(.parallel) {
            throw RemoteError(code: .argumentUnsupported, domain: .qemu, detail: "post-copy migration is not supported with parallel migration")
        }
    }
}

extension MigrationParameters {
    /// The parameters as typed parameters again, for the calls a peer-to-peer source makes.
    var typedParameters: [TypedParameter] {
        var list: [TypedParameter] = []
        if let uri { list.append(TypedParameter("migrate_uri", .string(uri))) }
        if let destinationName { list.append(TypedParameter("destination_name", .string(destinationName))) }
        if let destinationXML { list.append(TypedParameter("destination_xml", .string(destinationXML))) }
        if let persistentXML { list.append(TypedParameter("persistent_xml", .string(persistentXML))) }
        if let bandwidth { list.append(TypedParameter("bandwidth", .unsignedLongLong(bandwidth))) }
        if let listenAddress { list.append(TypedParameter("listen_address", .string(listenAddress))) }
        for method in compression { list.append(TypedParameter("compression", .string(method))) }
        if let xbzrleCache { list.append(TypedParameter("compression.xbzrle.cache", .unsignedLongLong(xbzrleCache))) }
        if let autoConvergeInitial { list.append(TypedParameter("auto_converge.initial", .int(autoConvergeInitial))) }
        if let autoConvergeIncrement { list.append(TypedParameter("auto_converge.increment", .int(autoConvergeIncrement))) }
        if let parallelConnections { list.append(TypedParameter("parallel.connections", .int(parallelConnections))) }
        for disk in disks { list.append(TypedParameter("migrate_disks", .string(disk))) }
        if let disksPort { list.append(TypedParameter("disks_port", .int(disksPort))) }
        if let tlsDestination { list.append(TypedParameter("tls.destination", .string(tlsDestination))) }
        return list
    }
}

import CorralJSON
import CorralProtocol
import DomainXML
import QEMUCommandLine
import QMP
import XDR
import XMLTree

/// `blkdeviotune` (a disk's I/O limits, live through QEMU's throttling and in the definition's
/// `<iotune>`), `domblkerror` and `iothreadinfo`.
enum BlockTuningProcedures {
    static let live = ModificationImpact.liveFlag, config = ModificationImpact.configFlag
    static let limitNames = DomainDefinition.Disk.IOTune.limits.map(\.name)
    static var parameterSchema: [String: TypedParameter.Kind] {
        var schema = Dictionary(uniqueKeysWithValues: limitNames.map { ($0, TypedParameter.Kind.unsignedLongLong) })
        schema["group_name"] = .string
        return schema
    }
    /// libvirt's `QEMU_NB_BLOCK_IO_TUNE_ALL_PARAMS`.
    static let parameterCount: Int32 = 20

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, driver: DomainDriver, events: EventHub) {
        let jobs = driver.jobs
        table.registerAsync(Remote.DomainGetBlockIoTune.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config | [TypedParameter].stringOkayFlag, function: "qemuDomainGetBlockIoTune")
            try ModificationImpact.checkOneDefinition(arguments.flags, domain: .domain)
            guard arguments.nparams >= 0 else { throw RemoteError.invalidArgument("nparams in virDomainGetBlockIoTune must not be negative", domain: .domain) }
            let record = try registry.record(for: arguments.dom)
            let impact = try ModificationImpact(flags: arguments.flags & (live | config), record: record)
            if arguments.nparams == 0 { return .init(params: [], nparams: parameterCount) }
            guard let path = arguments.disk else { throw RemoteError.invalidArgument("disk in virDomainGetBlockIoTune must not be NULL", domain: .domain) }
            var tune = DomainDefinition.Disk.IOTune()
            if impact.live, let guest = record.runtime {
                guard let disk = guest.devices.disk(named: path) else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "disk '\(path)' not found in domain")
                }
                tune = try await liveTune(guest, alias: disk.alias)
            } else {
                guard let disk = record.definition.devices.disks.first(where: { $0.targetDevice == path || $0.source == path }) else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "disk '\(path)' was not found in the domain config")
                }
                tune = disk.ioTune ?? .init()
            }
            var parameters = limitNames.map { TypedParameter($0, .unsignedLongLong(tune.values[$0] ?? 0)) }
            parameters.insert(TypedParameter("group_name", .string(tune.groupName ?? "")), at: 13)
            let given = Array(parameters.prefix(Int(arguments.nparams))).forClient(flags: arguments.flags)
            return .init(params: given, nparams: Int32(given.count))
        }

        table.registerAsync(Remote.DomainSetBlockIoTune.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config, function: "qemuDomainSetBlockIoTune")
            try TunableProcedures.validate(arguments.params, parameterSchema)
            let changes = try Self.changes(arguments.params)
            let name = try registry.record(for: arguments.dom).name
            try await jobs.run(name, "set block I/O tune") { () async throws(RemoteError) in
                let record = try registry.record(for: arguments.dom)
                let impact = try ModificationImpact(flags: arguments.flags, record: record)
                var applied = DomainDefinition.Disk.IOTune()
                if impact.live, let guest = record.runtime {
                    guard let disk = guest.devices.disk(named: arguments.disk) else {
                        throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "disk '\(arguments.disk)' not found in domain")
                    }
                    applied = Self.merged(try await liveTune(guest, alias: disk.alias), changes)
                    try await Self.apply(applied, to: disk.qomName, qmp: guest.qmp)
                    let target = disk.target
                    registry.updateGuest(record.uuid) { guest in
                        guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { Self.setTune(&$0, target: target, applied) }
                    }
                    await driver.liveXMLChanged(record.uuid)
                    var parameters = [TypedParameter("blkdeviotune.disk", .string(target))]
                    for (field, _) in changes.values { parameters.append(.init("blkdeviotune.\(field)", .unsignedLongLong(applied.values[field] ?? 0))) }
                    if let group = applied.groupName { parameters.append(.init("blkdeviotune.group_name", .string(group))) }
                    events.tunableChanged(record.handle, parameters: parameters)
                }
                if impact.config {
                    guard let disk = record.definition.devices.disks.first(where: { $0.targetDevice == arguments.disk || $0.source == arguments.disk }) else {
                        throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "missing persistent configuration for disk '\(arguments.disk)'")
                    }
                    let tune = Self.merged(disk.ioTune ?? .init(), changes), target = disk.targetDevice
                    try await DomainDocumentEdits.redefine(record, registry: registry, options: driver.options) { Self.setTune(&$0, target: target, tune) }
                }
            }
            return XDRVoid()
        }

        table.registerAsync(Remote.DomainGetDiskErrors.self) { arguments, _ throws(RemoteError) in
            guard arguments.maxerrors <= 256 else { throw RemoteError(code: .rpc, domain: .rpc, detail: "maxerrors > REMOTE_DOMAIN_DISK_ERRORS_MAX") }
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainGetDiskErrors")
            let record = try registry.record(for: arguments.dom)
            guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
            // Without room for errors, libvirt tells how many there may be: one per disk.
            if arguments.maxerrors == 0 { return .init(errors: [], nerrors: Int32(clamping: guest.devices.disks.count)) }
            let reply: JSONValue
            do throws(QMPError) {
                reply = try await guest.qmp.execute("query-block")
            } catch {
                throw GuestStatistics.monitorFailure(error)
            }
            var errors: [DiskError] = []
            if case .array(let blocks) = reply {
                for block in blocks {
                    // VIR_DOMAIN_DISK_ERROR_UNSPEC 1, _NO_SPACE 2.
                    guard let status = block["io-status"]?.stringValue, status != "ok", let qdev = block["qdev"]?.stringValue,
                        let disk = guest.devices.disks.first(where: { qdev == $0.alias || qdev.hasPrefix("/machine/peripheral/\($0.alias)/") })
                    else { continue }
                    errors.append(DiskError(disk: disk.target, error: status == "nospace" ? 2 : 1))
                }
            }
            let given = Array(errors.prefix(Int(arguments.maxerrors)))
            return .init(errors: given, nerrors: Int32(given.count))
        }
    }

    /// What a set call changes: each limit given (0 clears it), and the group.
    struct Changes {
        var values: [(String, UInt64)]
        var groupName: String?
    }

    /// The parameters as changes, with libvirt's checks.
    static func changes(_ parameters: [TypedParameter]) throws(RemoteError) -> Changes {
        var changes = Changes(values: [])
        for parameter in parameters {
            switch parameter.value {
            case .unsignedLongLong(let value):
                guard value <= DomainDefinition.Disk.IOTune.maximumValue else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "block I/O throttle limit value must be no more than \(DomainDefinition.Disk.IOTune.maximumValue)")
                }
                changes.values.append((parameter.field, value))
            case .string(let group):
                changes.groupName = group
            default:
                continue
            }
        }
        let given = Set(changes.values.map(\.0))
        for kind in ["bytes_sec", "iops_sec", "bytes_sec_max", "iops_sec_max"] where given.contains("total_\(kind)") {
            if given.contains("read_\(kind)") || given.contains("write_\(kind)") {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "total and read/write of \(kind) cannot be set at the same time")
            }
        }
        return changes
    }

    /// `current` with `changes` made, as libvirt makes them: a total clears its read and write
    /// limits, and a read or write limit clears the total.
    static func merged(_ current: DomainDefinition.Disk.IOTune, _ changes: Changes) -> DomainDefinition.Disk.IOTune {
        var tune = current
        for (field, value) in changes.values {
            for kind in ["bytes_sec", "iops_sec", "bytes_sec_max", "iops_sec_max"] {
                if field == "total_\(kind)" { tune.values["read_\(kind)"] = nil; tune.values["write_\(kind)"] = nil }
                if field == "read_\(kind)" || field == "write_\(kind)" { tune.values["total_\(kind)"] = nil }
            }
            tune.values[field] = value == 0 ? nil : value
        }
        if let group = changes.groupName { tune.groupName = group.isEmpty ? nil : group }
        return tune
    }

    /// The limits QEMU applies to the disk `alias` now.
    static func liveTune(_ guest: GuestRuntime, alias: String) async throws(RemoteError) -> DomainDefinition.Disk.IOTune {
        let reply: JSONValue
        do throws(QMPError) {
            reply = try await guest.qmp.execute("query-block")
        } catch {
            throw GuestStatistics.monitorFailure(error)
        }
        var tune = DomainDefinition.Disk.IOTune()
        guard case .array(let blocks) = reply,
            let inserted = blocks.first(where: { ($0["qdev"]?.stringValue).map { $0 == alias || $0.hasPrefix("/machine/peripheral/\(alias)/") } ?? false })?["inserted"]
        else { return tune }
        for (name, qemu) in DomainDefinition.Disk.IOTune.limits {
            if let value = inserted[qemu]?.uint64Value, value > 0 { tune.values[name] = value }
        }
        tune.groupName = inserted["group"]?.stringValue
        return tune
    }

    /// Sets QEMU's throttling of the disk whose device is `qomName` to `tune`
    /// (`block_set_io_throttle`).
    static func apply(_ tune: DomainDefinition.Disk.IOTune, to qomName: String, qmp: QMPClient) async throws(RemoteError) {
        var arguments: [(String, JSONValue)] = [("id", .string(qomName))]
        for (name, qemu) in DomainDefinition.Disk.IOTune.limits {
            let value = tune.values[name] ?? 0
            // The six base limits are required; the others only when set.
            if value > 0 || ["bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr"].contains(qemu) { arguments.append((qemu, .unsigned(value))) }
        }
        if let group = tune.groupName { arguments.append(("group", .string(group))) }
        do throws(QMPError) {
            _ = try await qmp.execute("block_set_io_throttle", arguments: .object(arguments))
        } catch {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'block_set_io_throttle': \(error.message)")
        }
    }

    /// Writes `tune` as the `<iotune>` of the disk `target` in `document`.
    static func setTune(_ document: inout XMLElement, target: String, _ tune: DomainDefinition.Disk.IOTune) {
        let disks = DeviceXML.devices(named: "disk", in: document)
        guard let index = disks.firstIndex(where: { $0.element(named: "target")?[attribute: "dev"] == target }) else { return }
        document = DeviceXML.editing("disk", at: index, in: document) { disk in
            var disk = disk
            disk.children.removeAll { if case .element(let e) = $0, e.name == "iotune", e.namespace == nil { true } else { false } }
            guard !tune.isEmpty || tune.groupName != nil else { return disk }
            let position = (disk.children.firstIndex { if case .element(let e) = $0, e.name == "target" { true } else { false } }).map { $0 + 1 } ?? disk.children.count
            disk.children.insert(.element(tune.element), at: position)
            return disk
        }
    }
}

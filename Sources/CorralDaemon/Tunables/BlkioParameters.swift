import CorralProtocol
import DomainXML
import XMLTree

/// `blkiotune`: the guest's block I/O weight. Per-device weights and limits are read as none
/// and refused when set (`blkdeviotune` limits a disk in QEMU instead).
enum BlkioParameters {
    static let names: [(String, TypedParameter.Kind)] = [
        ("weight", .uint), ("device_weight", .string), ("device_read_iops_sec", .string), ("device_write_iops_sec", .string),
        ("device_read_bytes_sec", .string), ("device_write_bytes_sec", .string),
    ]

    static func get(_ handle: RemoteDomain, nparams: Int32, flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) -> ([TypedParameter], Int32) {
        let (record, impact) = try TunableProcedures.getImpact(handle, nparams: nparams, flags: flags, function: "qemuDomainGetBlkioParameters", context)
        if nparams == 0 { return ([], Int32(names.count)) }
        let weight: UInt32
        if impact.live, let guest = record.runtime {
            let group = try context.cgroup(guest, .blkio)
            weight = try await BlockingWork.run { () throws(RemoteError) in try group.blockWeight() }
        } else {
            weight = record.definition.blockIOTune.weight ?? 0
        }
        let all = [TypedParameter("weight", .uint(weight))] + names.dropFirst().map { TypedParameter($0.0, .string("")) }
        let given = TunableProcedures.given(all, nparams: nparams, flags: flags)
        return (given, Int32(given.count))
    }

    static func set(_ handle: RemoteDomain, _ parameters: [TypedParameter], flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) {
        try DomainProcedures.checkFlags(flags, allowed: TunableProcedures.live | TunableProcedures.config, function: "qemuDomainSetBlkioParameters")
        try TunableProcedures.validate(parameters, Dictionary(uniqueKeysWithValues: names))
        var weight: UInt32?
        for parameter in parameters {
            if case .uint(let value) = parameter.value {
                guard (100...1000).contains(value) else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "out of blkio weight range.") }
                weight = value
            } else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "'\(parameter.field)' is not supported by Corral: limit a disk with blkdeviotune")
            }
        }
        guard let weight else { return }
        let name = try context.registry.record(for: handle).name
        try await context.driver.jobs.run(name, "set blkio parameters") { () async throws(RemoteError) in
            let record = try context.registry.record(for: handle)
            let impact = try ModificationImpact(flags: flags, record: record)
            if impact.live, let guest = record.runtime {
                let group = try context.cgroup(guest, .blkio)
                try await BlockingWork.run { () throws(RemoteError) in try group.setBlockWeight(weight) }
                await context.editLive(record) { TopLevelElements.settingChild("weight", of: "blkiotune", text: String(weight), in: $0) }
                context.events.tunableChanged(record.handle, parameters: [.init("blkiotune.weight", .uint(weight))])
            }
            if impact.config {
                try await context.editConfig(record) { TopLevelElements.settingChild("weight", of: "blkiotune", text: String(weight), in: $0) }
            }
        }
    }
}

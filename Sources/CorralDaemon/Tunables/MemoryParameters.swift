import CorralProtocol
import DomainXML
import XMLTree

/// `memtune`: the guest's hard, soft and swap limits (KiB; libvirt's "unlimited" when none).
enum MemoryParameters {
    static let names = DomainDefinition.MemoryTune.names
    static let unlimited = GuestCgroup.unlimitedKiB

    static func get(_ handle: RemoteDomain, nparams: Int32, flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) -> ([TypedParameter], Int32) {
        let (record, impact) = try TunableProcedures.getImpact(handle, nparams: nparams, flags: flags, function: "qemuDomainGetMemoryParameters", context)
        if nparams == 0 { return ([], Int32(names.count)) }
        let values: [UInt64]
        if impact.live, let guest = record.runtime {
            let group = try context.cgroup(guest, .memory)
            values = try await BlockingWork.run { () throws(RemoteError) -> [UInt64] in
                [try group.memoryLimit(.hard), try group.memoryLimit(.soft), (try? group.memoryLimit(.swap)) ?? unlimited]
            }
        } else {
            let tune = record.definition.memoryTune
            values = [tune.hardLimitKiB ?? unlimited, tune.softLimitKiB ?? unlimited, tune.swapHardLimitKiB ?? unlimited]
        }
        let all = zip(names, values).map { TypedParameter($0, .unsignedLongLong($1)) }
        let given = TunableProcedures.given(all, nparams: nparams, flags: flags)
        return (given, Int32(given.count))
    }

    static func set(_ handle: RemoteDomain, _ parameters: [TypedParameter], flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) {
        try DomainProcedures.checkFlags(flags, allowed: TunableProcedures.live | TunableProcedures.config, function: "qemuDomainSetMemoryParameters")
        try TunableProcedures.validate(parameters, Dictionary(uniqueKeysWithValues: names.map { ($0, TypedParameter.Kind.unsignedLongLong) }))
        var given: [String: UInt64] = [:]
        for parameter in parameters { if case .unsignedLongLong(let value) = parameter.value { given[parameter.field] = min(value, unlimited) } }
        let wanted = given
        let name = try context.registry.record(for: handle).name
        try await context.driver.jobs.run(name, "set memory parameters") { () async throws(RemoteError) in
            let record = try context.registry.record(for: handle)
            let impact = try ModificationImpact(flags: flags, record: record)
            @Sendable func check(hard: UInt64, swap: UInt64) throws(RemoteError) {
                guard hard <= swap else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "memory hard_limit tunable value must be lower than or equal to swap_hard_limit")
                }
            }
            if impact.live, let guest = record.runtime {
                let group = try context.cgroup(guest, .memory)
                try await BlockingWork.run { () throws(RemoteError) in
                    let current = try group.memoryLimit(.hard)
                    let hard = wanted["hard_limit"] ?? current, swap = wanted["swap_hard_limit"] ?? ((try? group.memoryLimit(.swap)) ?? unlimited)
                    try check(hard: hard, swap: swap)
                    // Growing: swap (memory + swap) first; shrinking: memory first (v1's order).
                    if let value = wanted["swap_hard_limit"], hard > current { try group.setMemoryLimit(.swap, kib: value) }
                    if let value = wanted["hard_limit"] { try group.setMemoryLimit(.hard, kib: value) }
                    if let value = wanted["swap_hard_limit"], hard <= current { try group.setMemoryLimit(.swap, kib: value) }
                    if let value = wanted["soft_limit"] { try group.setMemoryLimit(.soft, kib: value) }
                }
                await context.editLive(record) { edited($0, wanted) }
            }
            if impact.config {
                let tune = record.definition.memoryTune
                try check(hard: wanted["hard_limit"] ?? tune.hardLimitKiB ?? unlimited, swap: wanted["swap_hard_limit"] ?? tune.swapHardLimitKiB ?? unlimited)
                try await context.editConfig(record) { edited($0, wanted) }
            }
        }
    }

    /// `<memtune>` with the given limits (unlimited ones removed).
    static func edited(_ document: XMLElement, _ wanted: [String: UInt64]) -> XMLElement {
        var document = document
        for (name, value) in wanted {
            document = TopLevelElements.settingChild(
                name, of: "memtune", text: value >= unlimited ? nil : String(value), attributes: [XMLAttribute(name: "unit", value: "KiB")], in: document)
        }
        return document
    }
}

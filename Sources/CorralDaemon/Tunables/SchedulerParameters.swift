import CorralProtocol
import DomainXML
import XMLTree

/// `schedinfo`: the guest's CPU shares and whole-guest bandwidth (`global_period`,
/// `global_quota`). Per-vCPU, emulator and I/O-thread bandwidth need a control group per thread,
/// which Corral does not make: they read as the kernel's defaults (no limit) and are refused
/// when set.
enum SchedulerParameters {
    /// libvirt's names and types, in its order.
    static let names: [(String, TypedParameter.Kind)] = [
        ("cpu_shares", .unsignedLongLong), ("vcpu_period", .unsignedLongLong), ("vcpu_quota", .longLong), ("emulator_period", .unsignedLongLong),
        ("emulator_quota", .longLong), ("global_period", .unsignedLongLong), ("global_quota", .longLong), ("iothread_period", .unsignedLongLong),
        ("iothread_quota", .longLong),
    ]
    /// The kernel's CFS defaults: a 100 ms period, no quota.
    static let defaultPeriod: UInt64 = 100_000, noQuota: Int64 = -1

    static func get(_ handle: RemoteDomain, nparams: Int32, flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) -> [TypedParameter] {
        let (record, impact) = try TunableProcedures.getImpact(handle, nparams: nparams, flags: flags, function: "qemuDomainGetSchedulerParametersFlags", context)
        // The old call asks for as many as the type call said.
        let count = nparams == 0 ? Int32(names.count) : nparams
        var values: [String: TypedParameter.Value] = [:]
        if impact.live, let guest = record.runtime {
            let group = try context.cgroup(guest, .cpu)
            let (shares, bandwidth) = try await BlockingWork.run { () throws(RemoteError) in (try group.cpuShares(), try group.cpuBandwidth()) }
            values = [
                "cpu_shares": .unsignedLongLong(shares), "global_period": .unsignedLongLong(bandwidth.period), "global_quota": .longLong(bandwidth.quota),
            ]
            for kind in ["vcpu", "emulator", "iothread"] {
                values["\(kind)_period"] = .unsignedLongLong(defaultPeriod)
                values["\(kind)_quota"] = .longLong(noQuota)
            }
        } else {
            // A definition's unset values read as 0, as libvirt's do.
            let tune = record.definition.cpuTune
            values = ["cpu_shares": .unsignedLongLong(tune.shares ?? 0), "global_period": .unsignedLongLong(tune.globalPeriod ?? 0), "global_quota": .longLong(tune.globalQuota ?? 0)]
        }
        let all = names.map { name, kind in TypedParameter(name, values[name] ?? (kind == .longLong ? .longLong(0) : .unsignedLongLong(0))) }
        return TunableProcedures.given(all, nparams: count, flags: flags)
    }

    static func set(_ handle: RemoteDomain, _ parameters: [TypedParameter], flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) {
        try DomainProcedures.checkFlags(flags, allowed: TunableProcedures.live | TunableProcedures.config, function: "qemuDomainSetSchedulerParametersFlags")
        try TunableProcedures.validate(parameters, Dictionary(uniqueKeysWithValues: names))
        var givenShares: UInt64?, givenPeriod: UInt64?, givenQuota: Int64?
        for parameter in parameters {
            switch (parameter.field, parameter.value) {
            case ("cpu_shares", .unsignedLongLong(let value)):
                guard (2...262_144).contains(value) else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "value of 'cpu_shares' is out of range [2, 262144]") }
                givenShares = value
            case ("global_period", .unsignedLongLong(let value)):
                guard (1000...1_000_000).contains(value) else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "value of 'global_period' is out of range [1000, 1000000]") }
                givenPeriod = value
            case ("global_quota", .longLong(let value)):
                guard value < 0 || (1000...17_592_186_044_415).contains(value) else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "value of 'global_quota' is out of range [1000, 17592186044415]")
                }
                givenQuota = value < 0 ? -1 : value
            default:
                throw RemoteError(
                    code: .operationUnsupported, domain: .qemu,
                    detail: "setting '\(parameter.field)' needs a control group per thread, which Corral does not make; cpu_shares, global_period and global_quota are supported")
            }
        }
        let shares = givenShares, period = givenPeriod, quota = givenQuota
        let name = try context.registry.record(for: handle).name
        try await context.driver.jobs.run(name, "set scheduler parameters") { () async throws(RemoteError) in
            let record = try context.registry.record(for: handle)
            let impact = try ModificationImpact(flags: flags, record: record)
            if impact.live, let guest = record.runtime {
                let group = try context.cgroup(guest, .cpu)
                try await BlockingWork.run { () throws(RemoteError) in
                    if let shares { try group.setCPUShares(shares) }
                    if period != nil || quota != nil { try group.setCPUBandwidth(period: period, quota: quota) }
                }
                await context.editLive(record) { document in edited(document, shares: shares, period: period, quota: quota) }
                var changed: [TypedParameter] = []
                if let shares { changed.append(.init("cputune.cpu_shares", .unsignedLongLong(shares))) }
                if let period { changed.append(.init("cputune.global_period", .unsignedLongLong(period))) }
                if let quota { changed.append(.init("cputune.global_quota", .longLong(quota))) }
                context.events.tunableChanged(record.handle, parameters: changed)
            }
            if impact.config {
                try await context.editConfig(record) { document in edited(document, shares: shares, period: period, quota: quota) }
            }
        }
    }

    /// `<cputune>` with the given values.
    static func edited(_ document: XMLElement, shares: UInt64?, period: UInt64?, quota: Int64?) -> XMLElement {
        var document = document
        if let shares { document = TopLevelElements.settingChild("shares", of: "cputune", text: String(shares), in: document) }
        if let period { document = TopLevelElements.settingChild("global_period", of: "cputune", text: String(period), in: document) }
        if let quota { document = TopLevelElements.settingChild("global_quota", of: "cputune", text: String(quota), in: document) }
        return document
    }
}

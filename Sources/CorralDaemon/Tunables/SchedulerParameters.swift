import CorralProtocol
import DomainXML
import XMLTree

/// `schedinfo`: the guest's CPU shares and CFS bandwidths — the whole guest's (`global_*`),
/// each vCPU's (`vcpu_*`), the emulator threads' (`emulator_*`) and each I/O thread's
/// (`iothread_*`), the last three on libvirt's per-thread control groups.
enum SchedulerParameters {
    /// libvirt's names and types, in its order.
    static let names: [(String, TypedParameter.Kind)] = [
        ("cpu_shares", .unsignedLongLong), ("vcpu_period", .unsignedLongLong), ("vcpu_quota", .longLong), ("emulator_period", .unsignedLongLong),
        ("emulator_quota", .longLong), ("global_period", .unsignedLongLong), ("global_quota", .longLong), ("iothread_period", .unsignedLongLong),
        ("iothread_quota", .longLong),
    ]
    /// The kernel's CFS defaults: a 100 ms period, no quota.
    static let defaultPeriod: UInt64 = 100_000, noQuota: Int64 = -1

    /// What a bandwidth limits: its parameters' prefix and its `<cputune>` elements.
    enum Scope: CaseIterable {
        case vcpu, emulator, global, ioThread

        var parameterPrefix: String {
            switch self {
            case .vcpu: "vcpu"
            case .emulator: "emulator"
            case .global: "global"
            case .ioThread: "iothread"
            }
        }

        /// The `<cputune>` children (`period`/`quota` for the vCPUs).
        var elements: (period: String, quota: String) {
            self == .vcpu ? ("period", "quota") : (parameterPrefix + "_period", parameterPrefix + "_quota")
        }

        func bandwidth(of tune: DomainDefinition.CPUTune) -> DomainDefinition.CPUTune.Bandwidth {
            switch self {
            case .vcpu: tune.vcpuBandwidth
            case .emulator: tune.emulatorBandwidth
            case .global: .init(period: tune.globalPeriod, quota: tune.globalQuota)
            case .ioThread: tune.ioThreadBandwidth
            }
        }

        /// The groups whose bandwidth this is, in a guest's cpu group (`nil`: the guest's own).
        func groups(in cgroup: GuestCgroup) -> [GuestCgroup.ThreadGroup?] {
            switch self {
            case .global: [nil]
            case .emulator: cgroup.hasThreadGroups ? [.emulator] : []
            case .vcpu: cgroup.vcpuGroupIndexes().map { .vcpu($0) }
            case .ioThread: cgroup.ioThreadGroupIDs().map { .ioThread($0) }
            }
        }
    }

    static func get(_ handle: RemoteDomain, nparams: Int32, flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) -> [TypedParameter] {
        let (record, impact) = try TunableProcedures.getImpact(handle, nparams: nparams, flags: flags, function: "qemuDomainGetSchedulerParametersFlags", context)
        // The old call asks for as many as the type call said.
        let count = nparams == 0 ? Int32(names.count) : nparams
        var values: [String: TypedParameter.Value] = [:]
        if impact.live, let guest = record.runtime {
            let group = try context.cgroup(guest, .cpu)
            values = try await BlockingWork.run { () throws(RemoteError) -> [String: TypedParameter.Value] in
                var values: [String: TypedParameter.Value] = ["cpu_shares": .unsignedLongLong(try group.cpuShares())]
                // Each scope as its first group says (libvirt reads vCPU 0's, the first I/O
                // thread's); the kernel's defaults without one.
                for scope in Scope.allCases {
                    let bandwidth = try scope.groups(in: group).first.map { target throws(RemoteError) in try group.cpuBandwidth(of: target) }
                    values[scope.parameterPrefix + "_period"] = .unsignedLongLong(bandwidth?.period ?? defaultPeriod)
                    values[scope.parameterPrefix + "_quota"] = .longLong(bandwidth?.quota ?? noQuota)
                }
                return values
            }
        } else {
            // A definition's unset values read as 0, as libvirt's do.
            let tune = record.definition.cpuTune
            values["cpu_shares"] = .unsignedLongLong(tune.shares ?? 0)
            for scope in Scope.allCases {
                let bandwidth = scope.bandwidth(of: tune)
                values[scope.parameterPrefix + "_period"] = .unsignedLongLong(bandwidth.period ?? 0)
                values[scope.parameterPrefix + "_quota"] = .longLong(bandwidth.quota ?? 0)
            }
        }
        let all = names.map { name, kind in TypedParameter(name, values[name] ?? (kind == .longLong ? .longLong(0) : .unsignedLongLong(0))) }
        return TunableProcedures.given(all, nparams: count, flags: flags)
    }

    /// The changes a `set` asks for.
    struct Changes: Sendable {
        var shares: UInt64?
        var bandwidths: [Scope: DomainDefinition.CPUTune.Bandwidth] = [:]
    }

    /// The parameters read with libvirt's ranges (`SCHED_RANGE_CHECK`: a period of 1000–1000000
    /// µs, a quota up to 17592186044415 µs and at least 1000 unless below 0).
    static func changes(_ parameters: [TypedParameter]) throws(RemoteError) -> Changes {
        var changes = Changes()
        func outOfRange(_ name: String, _ low: Int64, _ high: Int64) -> RemoteError {
            RemoteError(code: .invalidArgument, domain: .qemu, detail: "value of '\(name)' is out of range [\(low), \(high)]")
        }
        for parameter in parameters {
            if parameter.field == "cpu_shares", case .unsignedLongLong(let value) = parameter.value {
                guard (2...262_144).contains(value) else { throw outOfRange("cpu_shares", 2, 262_144) }
                changes.shares = value
                continue
            }
            guard let scope = Scope.allCases.first(where: { parameter.field.hasPrefix($0.parameterPrefix + "_") }) else { continue }
            var bandwidth = changes.bandwidths[scope] ?? .init()
            switch parameter.value {
            case .unsignedLongLong(let value):
                guard value == 0 || (1000...1_000_000).contains(value) else { throw outOfRange(parameter.field, 1000, 1_000_000) }
                bandwidth.period = value
            case .longLong(let value):
                guard value <= 0 || (1000...17_592_186_044_415).contains(value) else { throw outOfRange(parameter.field, 1000, 17_592_186_044_415) }
                bandwidth.quota = value < 0 ? -1 : value
            default: continue
            }
            changes.bandwidths[scope] = bandwidth
        }
        return changes
    }

    static func set(_ handle: RemoteDomain, _ parameters: [TypedParameter], flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) {
        try DomainProcedures.checkFlags(flags, allowed: TunableProcedures.live | TunableProcedures.config, function: "qemuDomainSetSchedulerParametersFlags")
        try TunableProcedures.validate(parameters, Dictionary(uniqueKeysWithValues: names))
        let changes = try changes(parameters)
        let name = try context.registry.record(for: handle).name
        try await context.driver.jobs.run(name, "set scheduler parameters") { () async throws(RemoteError) in
            let record = try context.registry.record(for: handle)
            let impact = try ModificationImpact(flags: flags, record: record)
            if impact.live, let guest = record.runtime {
                let group = try context.cgroup(guest, .cpu)
                // The per-thread groups, made on the first change that needs them.
                let needsThreadGroups = changes.bandwidths.keys.contains { $0 != .global }
                let threads: (vcpus: [Int32], ioThreads: [Int: Int32])? =
                    needsThreadGroups && !group.hasThreadGroups ? (try await GuestStatistics.vcpuThreads(guest), try await GuestStatistics.ioThreads(guest)) : nil
                try await BlockingWork.run { () throws(RemoteError) in
                    if let threads { try group.makeThreadGroups(pid: guest.pid, vcpuThreads: threads.vcpus, ioThreads: threads.ioThreads) }
                    if let shares = changes.shares { try group.setCPUShares(shares) }
                    for (scope, bandwidth) in changes.bandwidths {
                        // A period of 0 changes nothing live; a quota below 0 is no limit.
                        let period = bandwidth.period == 0 ? nil : bandwidth.period
                        let quota = bandwidth.quota.map { $0 < 0 ? -1 : $0 }
                        guard period != nil || (quota != nil && quota != 0) else { continue }
                        let targets = scope.groups(in: group)
                        guard !targets.isEmpty else {
                            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "the guest has no \(scope.parameterPrefix) control group")
                        }
                        for target in targets { try group.setCPUBandwidth(period: period, quota: quota == 0 ? nil : quota, of: target) }
                    }
                }
                await context.editLive(record) { document in edited(document, changes) }
                var changed: [TypedParameter] = []
                if let shares = changes.shares { changed.append(.init("cputune.cpu_shares", .unsignedLongLong(shares))) }
                for scope in Scope.allCases {
                    guard let bandwidth = changes.bandwidths[scope] else { continue }
                    if let period = bandwidth.period { changed.append(.init("cputune.\(scope.parameterPrefix)_period", .unsignedLongLong(period))) }
                    if let quota = bandwidth.quota { changed.append(.init("cputune.\(scope.parameterPrefix)_quota", .longLong(quota))) }
                }
                context.events.tunableChanged(record.handle, parameters: changed)
            }
            if impact.config {
                try await context.editConfig(record) { document in edited(document, changes) }
            }
        }
    }

    /// `<cputune>` with the given values (a period or quota of 0 removes its element).
    static func edited(_ document: XMLElement, _ changes: Changes) -> XMLElement {
        var document = document
        if let shares = changes.shares { document = TopLevelElements.settingChild("shares", of: "cputune", text: String(shares), in: document) }
        for (scope, bandwidth) in changes.bandwidths {
            let (periodElement, quotaElement) = scope.elements
            if let period = bandwidth.period {
                document = TopLevelElements.settingChild(periodElement, of: "cputune", text: period == 0 ? nil : String(period), in: document)
            }
            if let quota = bandwidth.quota {
                document = TopLevelElements.settingChild(quotaElement, of: "cputune", text: quota == 0 ? nil : String(quota), in: document)
            }
        }
        return document
    }
}

import CorralJSON
import CorralProtocol
import CorralStorage
import DomainXML
import Glibc
import QEMUCommandLine
import QMP
import XDR

/// The statistics calls monitoring tools poll: block and interface counters, memory, block
/// sizes, vCPUs and their pinning, CPU time, control and job state.
///
/// They read QEMU's state on the daemon's own monitor and `/proc`, and change nothing, so they
/// take no job (libvirt's are `QUERY` jobs, which run beside others): a start under way is
/// simply "not running" yet.
enum StatisticsProcedures {
    /// libvirt's `REMOTE_VCPUINFO_MAX` and `REMOTE_CPUMAPS_MAX`.
    static let maximumVcpuInfo = 16_384
    static let maximumCPUMapBytes = 8_388_608

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, jobs: DomainJobs) {
        @Sendable func running(_ handle: RemoteDomain) throws(RemoteError) -> (DomainRecord, GuestRuntime) {
            let record = try registry.record(for: handle)
            guard let guest = record.runtime else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
            }
            return (record, guest)
        }

        // MARK: Block devices
        @Sendable func counters(_ guest: GuestRuntime, path: String) async throws(RemoteError) -> GuestStatistics.BlockCounters {
            let all = try await GuestStatistics.blockCounters(guest)
            if path.isEmpty {
                // libvirt's rule: no path is the sum over every disk.
                return all.values.reduce(into: GuestStatistics.BlockCounters()) { $0.add($1) }
            }
            guard let disk = guest.devices.disk(named: path) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "invalid path: \(path)")
            }
            return all[disk.target] ?? GuestStatistics.BlockCounters()
        }
        table.registerAsync(Remote.DomainBlockStats.self) { arguments, _ throws(RemoteError) in
            let (_, guest) = try running(arguments.dom)
            let c = try await counters(guest, path: arguments.path)
            // QEMU has no single error count: libvirt reports -1.
            return .init(rdReq: c.readRequests, rdBytes: c.readBytes, wrReq: c.writeRequests, wrBytes: c.writeBytes, errs: -1)
        }
        table.registerAsync(Remote.DomainBlockStatsFlags.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: [TypedParameter].stringOkayFlag, function: "qemuDomainBlockStatsFlags")
            guard arguments.nparams >= 0, arguments.nparams <= 16 else {
                throw RemoteError(code: .rpc, domain: .rpc, detail: "nparams too large")
            }
            let (_, guest) = try running(arguments.dom)
            let c = try await counters(guest, path: arguments.path)
            let all: [TypedParameter] = [
                .init("wr_bytes", .longLong(c.writeBytes)), .init("wr_operations", .longLong(c.writeRequests)),
                .init("rd_bytes", .longLong(c.readBytes)), .init("rd_operations", .longLong(c.readRequests)),
                .init("flush_operations", .longLong(c.flushRequests)), .init("wr_total_times", .longLong(c.writeNanoseconds)),
                .init("rd_total_times", .longLong(c.readNanoseconds)), .init("flush_total_times", .longLong(c.flushNanoseconds)),
            ]
            if arguments.nparams == 0 { return .init(params: [], nparams: Int32(all.count)) }
            let given = Array(all.prefix(Int(arguments.nparams)))
            return .init(params: given, nparams: Int32(given.count))
        }
        table.registerAsync(Remote.DomainGetBlockInfo.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainGetBlockInfo")
            let record = try registry.record(for: arguments.dom)
            let limits = try await blockInfo(record, path: arguments.path)
            return .init(allocation: limits.allocation, capacity: limits.capacity, physical: limits.physical)
        }

        // MARK: Interfaces
        table.registerAsync(Remote.DomainInterfaceStats.self) { arguments, _ throws(RemoteError) in
            let (_, guest) = try running(arguments.dom)
            let taps = (try? await BlockingWork.run { tapAssignment(guest) }) ?? []
            let device = arguments.device
            guard let index = guest.devices.interfaces.indices.first(where: { i in
                let interface = guest.devices.interfaces[i]
                return (i < taps.count && taps[i] == device) || interface.alias == device || interface.mac?.lowercased() == device.lowercased()
            }) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "'\(device)' is not a known interface")
            }
            guard index < taps.count, let tap = taps[index] else {
                throw RemoteError(
                    code: .operationUnsupported, domain: .qemu,
                    detail: "interface '\(guest.devices.interfaces[index].alias)' has no host network device to count (type '\(guest.devices.interfaces[index].type.rawValue)')")
            }
            guard let c = ProcessStatistics.interfaceCounters(tap, sharesHostView: guest.devices.interfaces[index].type.sharesHostView) else {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "Interface not found: \(tap)")
            }
            return .init(
                rxBytes: c.rxBytes, rxPackets: c.rxPackets, rxErrs: c.rxErrors, rxDrop: c.rxDrops, txBytes: c.txBytes, txPackets: c.txPackets,
                txErrs: c.txErrors, txDrop: c.txDrops)
        }

        // MARK: Memory
        table.registerAsync(Remote.DomainMemoryStats.self) { arguments, _ throws(RemoteError) in
            guard arguments.maxStats <= 1024 else {
                throw RemoteError(code: .rpc, domain: .rpc, detail: "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX")
            }
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainMemoryStats")
            let (record, guest) = try running(arguments.dom)
            let report = await GuestStatistics.balloon(guest, definedKiB: record.definition.currentMemoryKiB)
            return .init(stats: report.statistics.prefix(Int(arguments.maxStats)).map { MemoryStatistic(tag: $0.tag.rawValue, val: $0.value) })
        }
        table.registerAsync(Remote.DomainSetMemoryStatsPeriod.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2, function: "qemuDomainSetMemoryStatsPeriod")
            guard arguments.period >= 0 else {
                throw RemoteError.invalidArgument("period in virDomainSetMemoryStatsPeriod must not be negative", domain: .domain)
            }
            let record = try registry.record(for: arguments.dom)
            if arguments.flags & 2 != 0 {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "Corral keeps no balloon statistics period in the persistent definition; use --live")
            }
            try await jobs.run(record.name, "remoteDispatchDomainSetMemoryStatsPeriod") { () async throws(RemoteError) in
                let (_, guest) = try running(arguments.dom)
                guard let balloon = guest.devices.balloon else {
                    throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "No memory balloon device configured, can not set the collection period")
                }
                do throws(QMPError) {
                    _ = try await guest.qmp.execute("qom-set", arguments: .object([
                        ("path", .string("/machine/peripheral/\(balloon)")), ("property", .string("guest-stats-polling-interval")),
                        ("value", .number(JSONNumber(Int64(arguments.period)))),
                    ]))
                } catch {
                    throw GuestStatistics.monitorFailure(error)
                }
                registry.updateGuest(record.uuid) { $0.balloonStatisticsPeriod = arguments.period }
            }
            return XDRVoid()
        }

        // MARK: CPUs
        table.registerAsync(Remote.DomainGetCPUStats.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: [TypedParameter].stringOkayFlag, function: "qemuDomainGetCPUStats")
            guard arguments.ncpus <= 128 else { throw RemoteError(code: .rpc, domain: .rpc, detail: "ncpus > REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX") }
            guard UInt64(arguments.nparams) * UInt64(max(arguments.ncpus, 1)) <= 2048 else {
                throw RemoteError(code: .rpc, domain: .rpc, detail: "nparams * ncpus > REMOTE_DOMAIN_GET_CPU_STATS_MAX")
            }
            guard arguments.startCpu == -1 else {
                if arguments.startCpu < -1 { throw RemoteError.invalidArgument("start_cpu in virDomainGetCPUStats must be -1 or a CPU number", domain: .domain) }
                throw RemoteError(
                    code: .operationUnsupported, domain: .qemu,
                    detail: "per-CPU statistics need cgroup CPU accounting, which Corral does not use; the guest's total is available (start_cpu -1)")
            }
            guard arguments.ncpus == 1 || arguments.nparams == 0 else {
                throw RemoteError.invalidArgument("ncpus in virDomainGetCPUStats must be 1 when start_cpu is -1", domain: .domain)
            }
            let (_, guest) = try running(arguments.dom)
            let times = ProcessStatistics.cpuTimes(pid: guest.pid) ?? .init(user: 0, system: 0, processor: 0)
            let all: [TypedParameter] = [
                .init("cpu_time", .unsignedLongLong(times.total)), .init("user_time", .unsignedLongLong(times.user)),
                .init("system_time", .unsignedLongLong(times.system)),
            ]
            if arguments.nparams == 0 { return .init(params: [], nparams: Int32(all.count)) }
            let given = Array(all.prefix(Int(arguments.nparams)))
            return .init(params: given, nparams: Int32(given.count))
        }
        table.registerAsync(Remote.DomainGetVcpus.self) { arguments, _ throws(RemoteError) in
            guard arguments.maxinfo <= maximumVcpuInfo else { throw RemoteError.internalError("maxinfo > REMOTE_VCPUINFO_MAX") }
            guard arguments.maxinfo >= 1 else { throw RemoteError.invalidArgument("maxinfo in virDomainGetVcpus must be greater than zero", domain: .domain) }
            guard arguments.maplen >= 0 else { throw RemoteError.invalidArgument("maplen in virDomainGetVcpus must not be negative", domain: .domain) }
            guard Int64(arguments.maxinfo) * Int64(arguments.maplen) <= Int64(maximumCPUMapBytes) else {
                throw RemoteError.internalError("maxinfo * maplen > REMOTE_CPUMAPS_MAX")
            }
            let (_, guest) = try running(arguments.dom)
            let threads = try await GuestStatistics.vcpuThreads(guest).prefix(Int(arguments.maxinfo))
            var info: [VcpuInformation] = []
            var maps: [UInt8] = []
            for (number, thread) in threads.enumerated() {
                let times = ProcessStatistics.cpuTimes(pid: guest.pid, thread: thread)
                // State 1: running (QEMU's vCPU threads are never offline while QEMU runs).
                info.append(VcpuInformation(number: UInt32(number), state: 1, cpuTime: times?.total ?? 0, cpu: times?.processor ?? -1))
                if arguments.maplen > 0 { maps += ProcessStatistics.affinity(thread: thread, length: Int(arguments.maplen)) }
            }
            return .init(info: info, cpumaps: maps)
        }
        table.registerAsync(Remote.DomainGetVcpuPinInfo.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2, function: "qemuDomainGetVcpuPinInfo")
            guard arguments.ncpumaps <= maximumVcpuInfo else { throw RemoteError.internalError("ncpumaps > REMOTE_VCPUINFO_MAX") }
            guard arguments.ncpumaps >= 1, arguments.maplen >= 1 else {
                throw RemoteError.invalidArgument("ncpumaps and maplen in virDomainGetVcpuPinInfo must be greater than zero", domain: .domain)
            }
            guard Int64(arguments.ncpumaps) * Int64(arguments.maplen) <= Int64(maximumCPUMapBytes) else {
                throw RemoteError.internalError("ncpumaps * maplen > REMOTE_CPUMAPS_MAX")
            }
            let record = try registry.record(for: arguments.dom)
            let maplen = Int(arguments.maplen)
            var maps: [UInt8] = []
            if arguments.flags & 2 == 0, let guest = record.runtime {
                // Plugged vCPUs: where their threads may run; the others: their pins.
                let count = min(Int(arguments.ncpumaps), guest.vcpuMaximum)
                let threads = try await GuestStatistics.vcpuThreads(guest)
                let live = count > threads.count ? (try? DomainXMLParser.parse(guest.liveXML))?.definition : nil
                for vcpu in 0..<count {
                    if vcpu < threads.count {
                        maps += ProcessStatistics.affinity(thread: threads[vcpu], length: maplen)
                    } else {
                        maps += live.flatMap { $0.cpuTune.vcpuPins[vcpu] ?? $0.vcpuCPUSet }?.map(length: maplen) ?? allHostCPUs(length: maplen)
                    }
                }
            } else {
                let definition = record.definition
                for vcpu in 0..<min(Int(arguments.ncpumaps), definition.vcpus) {
                    maps += (definition.cpuTune.vcpuPins[vcpu] ?? definition.vcpuCPUSet)?.map(length: maplen) ?? allHostCPUs(length: maplen)
                }
            }
            return .init(cpumaps: maps, num: Int32(maps.count / maplen))
        }
        table.registerAsync(Remote.DomainGetEmulatorPinInfo.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2, function: "qemuDomainGetEmulatorPinInfo")
            guard arguments.maplen >= 1, Int(arguments.maplen) <= maximumCPUMapBytes else {
                throw RemoteError.invalidArgument("maplen in virDomainGetEmulatorPinInfo must be between 1 and \(maximumCPUMapBytes)", domain: .domain)
            }
            let record = try registry.record(for: arguments.dom)
            let maplen = Int(arguments.maplen)
            if arguments.flags & 2 == 0, let guest = record.runtime {
                return .init(cpumaps: ProcessStatistics.affinity(thread: guest.pid, length: maplen), ret: 1)
            }
            let definition = record.definition
            return .init(cpumaps: (definition.cpuTune.emulatorPin ?? definition.vcpuCPUSet)?.map(length: maplen) ?? allHostCPUs(length: maplen), ret: 1)
        }

        // MARK: Control and jobs
        table.register(Remote.DomainGetControlInfo.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainGetControlInfo")
            let (record, _) = try running(arguments.dom)
            // VIR_DOMAIN_CONTROL_OK 0, or JOB 1 while a job holds the domain.
            return .init(state: jobs.isBusy(record.name) ? 1 : 0, details: 0, stateTime: 0)
        }
        DomainStatsProcedure.register(in: &table, registry: registry)
    }

    /// A cpumap with every host CPU set.
    static func allHostCPUs(length: Int) -> [UInt8] {
        let count = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_CONF))))
        var map = [UInt8](repeating: 0, count: length)
        for cpu in 0..<min(count, length * 8) { map[cpu / 8] |= 1 << (cpu % 8) }
        return map
    }

    /// The tap of each interface, in interface order (`nil`: none, as for user networking):
    /// the one the daemon made for it (its connection names it; a `direct` interface's is its
    /// macvtap); else, for the taps QEMU's bridge helper made (a daemon that is not root), the
    /// taps QEMU holds, in the order it opened them.
    static func tapAssignment(_ guest: GuestRuntime) -> [String?] {
        func hasTap(_ type: DomainDefinition.Interface.Kind) -> Bool { type == .bridge || type == .network || type == .ethernet }
        // Reading the descriptors of QEMU costs: only when some tap is not the daemon's.
        let helperTaps = guest.devices.interfaces.contains { hasTap($0.type) && $0.connection == nil }
        var taps = helperTaps ? ProcessStatistics.tapNames(pid: guest.pid)[...] : []
        return guest.devices.interfaces.map { interface in
            if let connection = interface.connection { return connection.tap }
            return hasTap(interface.type) ? taps.popFirst() : nil
        }
    }

    /// `virDomainGetBlockInfo`: for a running guest, QEMU's capacity and highest write with the
    /// host's sizes; for a stopped one, the image's own sizes.
    static func blockInfo(_ record: DomainRecord, path: String) async throws(RemoteError) -> GuestStatistics.BlockLimits {
        let definition = record.definition
        let devices = record.runtime?.devices ?? GuestDevices(definition, runDirectory: "")
        guard let disk = devices.disk(named: path) else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "invalid path \(path) not assigned to domain")
        }
        guard let source = disk.source else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "disk '\(path)' does not currently have a source assigned")
        }
        let format = disk.format ?? "raw"
        guard let host = try? await BlockingWork.run({ GuestStatistics.hostSizes(source) }) ?? nil else {
            throw RemoteError(code: .systemError, domain: .qemu, detail: "cannot stat file '\(source)': \(String(cString: strerror(ENOENT)))")
        }
        var capacity: UInt64? = format == "raw" ? host.length : nil
        var highest: UInt64?
        if let guest = record.runtime {
            capacity = try await GuestStatistics.virtualSizes(guest)[disk.target] ?? capacity
            highest = try await GuestStatistics.blockCounters(guest)[disk.target]?.highestWrittenOffset
        } else if capacity == nil {
            capacity = (try? await BlockingWork.run { GuestStatistics.imageCapacity(source, format: format) }) ?? nil
        }
        return GuestStatistics.limits(capacity: capacity, host: host, highestWritten: highest, isQcow2: format == "qcow2")
    }
}

import CorralJSON
import CorralProtocol
import DomainXML
import QEMUCommandLine

/// `CONNECT_GET_ALL_DOMAIN_STATS` (`virsh domstats`, what Prometheus' libvirt exporter, Nova and
/// OpenNebula poll): each group's typed parameters under libvirt's names, for every domain
/// matching the filter or named, gathered from all guests at once.
enum DomainStatsProcedure {
    /// libvirt's `virDomainStatsTypes`.
    struct Groups: OptionSet, Sendable {
        let rawValue: UInt32
        static let state = Groups(rawValue: 1)
        static let cpuTotal = Groups(rawValue: 2)
        static let balloon = Groups(rawValue: 4)
        static let vcpu = Groups(rawValue: 8)
        static let interface = Groups(rawValue: 16)
        static let block = Groups(rawValue: 32)
        static let perf = Groups(rawValue: 64)
        static let iothread = Groups(rawValue: 128)
        static let memory = Groups(rawValue: 256)
        static let dirtyRate = Groups(rawValue: 512)
        static let vm = Groups(rawValue: 1024)
        /// Every group libvirt 9.0 knows. I/O threads, memory bandwidth and KVM's own
        /// statistics have nothing to report for Corral's guests (none are configured), as
        /// libvirt reports nothing for them then; perf reports the `<perf>` events counted.
        static let known: Groups = [.state, .cpuTotal, .balloon, .vcpu, .interface, .block, .perf, .iothread, .memory, .dirtyRate, .vm]
    }

    /// The list filters (as `CONNECT_LIST_ALL_DOMAINS`') and libvirt's own flags.
    static let filterFlags: UInt32 = 0xFF
    static let noWait: UInt32 = 1 << 29
    static let backing: UInt32 = 1 << 30
    static let enforceStats: UInt32 = 1 << 31

    static func register(in table: inout ProcedureTable, registry: DomainRegistry) {
        table.registerAsync(Remote.ConnectGetAllDomainStats.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: filterFlags | noWait | backing | enforceStats, function: "qemuConnectGetAllDomainStats")
            let asked = Groups(rawValue: arguments.stats)
            if arguments.flags & enforceStats != 0, !asked.subtracting(.known).isEmpty {
                throw RemoteError(
                    code: .argumentUnsupported, domain: .qemu,
                    detail: "Stats types bits 0x\(String(asked.subtracting(.known).rawValue, radix: 16)) are not supported by this daemon")
            }
            let groups = asked.isEmpty ? Groups.known : asked.intersection(.known)
            // VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING: a block entry for each backing layer too.
            let withBacking = arguments.flags & backing != 0
            let records: [DomainRecord]
            if arguments.doms.isEmpty {
                records = registry.records { DomainProcedures.matches($0, flags: arguments.flags) }
            } else {
                // Named domains that are gone are skipped, as libvirt does.
                records = arguments.doms.compactMap { try? registry.record(for: $0) }
            }
            let reports = await withTaskGroup(of: (Int, DomainStatsRecord).self) { group in
                for (index, record) in records.enumerated() {
                    group.addTask { (index, DomainStatsRecord(dom: record.handle, params: await parameters(record, groups: groups, backing: withBacking))) }
                }
                var collected: [(Int, DomainStatsRecord)] = []
                for await report in group { collected.append(report) }
                return collected.sorted { $0.0 < $1.0 }.map(\.1)
            }
            return .init(retStats: reports)
        }
    }

    /// What QEMU says about one guest, asked all at once (QEMU answers one command after
    /// another, but the round trips overlap).
    struct MonitorAnswers: Sendable {
        var balloon: GuestStatistics.BalloonReport?
        var vcpuThreads: [Int32]?
        var blockCounters: [String: GuestStatistics.BlockCounters] = [:]
        var virtualSizes: [String: UInt64] = [:]
        var dirtyRate: JSONValue?
        var haltPolling: (success: UInt64, fail: UInt64)?
        /// Every block node's sizes, when backing layers are reported.
        var nodeSizes: [String: (highestWritten: UInt64?, virtualSize: UInt64?)] = [:]

        static func gather(_ record: DomainRecord, _ guest: GuestRuntime, groups: Groups, backing: Bool = false) async -> MonitorAnswers {
            async let balloon = groups.contains(.balloon) ? GuestStatistics.balloon(guest, definedKiB: record.definition.currentMemoryKiB) : nil
            async let threads = groups.contains(.vcpu) ? try? GuestStatistics.vcpuThreads(guest) : nil
            async let counters = groups.contains(.block) ? (try? GuestStatistics.blockCounters(guest)) ?? [:] : [:]
            async let sizes = groups.contains(.block) ? (try? GuestStatistics.virtualSizes(guest)) ?? [:] : [:]
            async let dirty = groups.contains(.dirtyRate) ? await GuestStatistics.dirtyRate(guest) : nil
            async let polling = groups.contains(.cpuTotal) ? await GuestStatistics.haltPolling(guest, kvm: record.definition.type == .kvm) : nil
            async let nodes = groups.contains(.block) && backing ? (try? GuestStatistics.nodeSizes(guest)) ?? [:] : [:]
            return await MonitorAnswers(
                balloon: balloon, vcpuThreads: threads, blockCounters: counters, virtualSizes: sizes, dirtyRate: dirty, haltPolling: polling, nodeSizes: nodes)
        }
    }

    /// One domain's parameters for `groups`, in libvirt's order and names.
    /// With `backing`, each disk's backing layers get block entries of their own.
    static func parameters(_ record: DomainRecord, groups: Groups, backing: Bool = false) async -> [TypedParameter] {
        var parameters: [TypedParameter] = []
        let guest = record.runtime
        let answers = if let guest { await MonitorAnswers.gather(record, guest, groups: groups, backing: backing) } else { MonitorAnswers() }
        if groups.contains(.state) {
            parameters.append(.init("state.state", .int(record.state.rawValue)))
            parameters.append(.init("state.reason", .int(record.reason)))
        }
        if groups.contains(.cpuTotal), let guest, let times = ProcessStatistics.cpuTimes(pid: guest.pid) {
            parameters.append(.init("cpu.time", .unsignedLongLong(times.total)))
            parameters.append(.init("cpu.user", .unsignedLongLong(times.user)))
            parameters.append(.init("cpu.system", .unsignedLongLong(times.system)))
            // No cache monitors (resctrl) are configured: libvirt says so with a count of 0.
            parameters.append(.init("cpu.cache.monitor.count", .uint(0)))
            if let polling = answers.haltPolling {
                parameters.append(.init("cpu.haltpoll.success.time", .unsignedLongLong(polling.success)))
                parameters.append(.init("cpu.haltpoll.fail.time", .unsignedLongLong(polling.fail)))
            }
        }
        if groups.contains(.balloon) {
            let definition = record.definition
            if let report = answers.balloon {
                parameters.append(.init("balloon.current", .unsignedLongLong(report.actualKiB)))
                parameters.append(.init("balloon.maximum", .unsignedLongLong(definition.memoryKiB)))
                for (tag, value) in report.statistics where tag != .actualBalloon {
                    parameters.append(.init("balloon.\(tag.statsName)", .unsignedLongLong(value)))
                }
            } else {
                parameters.append(.init("balloon.current", .unsignedLongLong(definition.currentMemoryKiB)))
                parameters.append(.init("balloon.maximum", .unsignedLongLong(definition.memoryKiB)))
            }
        }
        if groups.contains(.vcpu) {
            let current = guest?.vcpuCount ?? record.definition.currentVcpus, maximum = guest?.vcpuMaximum ?? record.definition.vcpus
            parameters.append(.init("vcpu.current", .uint(UInt32(clamping: current))))
            parameters.append(.init("vcpu.maximum", .uint(UInt32(clamping: maximum))))
            if let guest, let threads = answers.vcpuThreads {
                for (index, thread) in threads.enumerated() {
                    let times = ProcessStatistics.schedulerTimes(pid: guest.pid, thread: thread)
                    parameters.append(.init("vcpu.\(index).state", .int(1)))
                    parameters.append(.init("vcpu.\(index).time", .unsignedLongLong(ProcessStatistics.cpuTimes(pid: guest.pid, thread: thread)?.total ?? 0)))
                    // libvirt's names: `wait` is the scheduler's wait sum, `delay` the run-queue delay.
                    parameters.append(.init("vcpu.\(index).wait", .unsignedLongLong(ProcessStatistics.waitNanoseconds(pid: guest.pid, thread: thread) ?? 0)))
                    parameters.append(.init("vcpu.\(index).delay", .unsignedLongLong(times?.waiting ?? 0)))
                }
                // vCPUs not plugged in: offline (VIR_VCPU_OFFLINE).
                for index in min(threads.count, maximum)..<max(threads.count, maximum) { parameters.append(.init("vcpu.\(index).state", .int(0))) }
            }
        }
        if groups.contains(.interface), let guest {
            parameters.append(.init("net.count", .uint(UInt32(clamping: guest.devices.interfaces.count))))
            for (index, tap) in StatisticsProcedures.tapAssignment(guest).enumerated() {
                guard let tap else { continue }
                parameters.append(.init("net.\(index).name", .string(tap)))
                let sharesHostView = index < guest.devices.interfaces.count && guest.devices.interfaces[index].type.sharesHostView
                guard let c = ProcessStatistics.interfaceCounters(tap, sharesHostView: sharesHostView) else { continue }
                for (name, value) in [
                    ("rx.bytes", c.rxBytes), ("rx.pkts", c.rxPackets), ("rx.errs", c.rxErrors), ("rx.drop", c.rxDrops),
                    ("tx.bytes", c.txBytes), ("tx.pkts", c.txPackets), ("tx.errs", c.txErrors), ("tx.drop", c.txDrops),
                ] {
                    parameters.append(.init("net.\(index).\(name)", .unsignedLongLong(UInt64(clamping: value))))
                }
            }
        }
        if groups.contains(.block) {
            parameters += blockParameters(record, counters: answers.blockCounters, capacities: answers.virtualSizes, backing: backing ? answers.nodeSizes : nil)
        }
        if groups.contains(.perf), let counters = guest?.perfCounters {
            for (event, value) in counters.values() { parameters.append(.init("perf.\(event.rawValue)", .unsignedLongLong(value))) }
        }
        if groups.contains(.dirtyRate), let rate = answers.dirtyRate {
            // VIR_DOMAIN_DIRTYRATE_UNSTARTED 0, _MEASURING 1, _MEASURED 2.
            let status: Int32 = switch rate["status"]?.stringValue { case "measuring": 1; case "measured": 2; default: 0 }
            parameters.append(.init("dirtyrate.calc_status", .int(status)))
            parameters.append(.init("dirtyrate.calc_start_time", .longLong(rate["start-time"]?.intValue ?? 0)))
            parameters.append(.init("dirtyrate.calc_period", .int(Int32(clamping: rate["calc-time"]?.intValue ?? 0))))
            parameters.append(.init("dirtyrate.calc_mode", .string(rate["mode"]?.stringValue ?? "page-sampling")))
            if status == 2 {
                parameters.append(.init("dirtyrate.megabytes_per_second", .longLong(rate["dirty-rate"]?.intValue ?? 0)))
                for vcpu in rate["vcpu-dirty-rate"]?.arrayValue ?? [] {
                    guard let id = vcpu["id"]?.intValue, let value = vcpu["dirty-rate"]?.intValue, value >= 0 else { continue }
                    parameters.append(.init("dirtyrate.vcpu.\(id).megabytes_per_second", .unsignedLongLong(UInt64(value))))
                }
            }
        }
        return parameters
    }

    /// The block group: every disk's name, path, counters and sizes; with `backing` (every
    /// block node's sizes, or none for a shut-off guest), an entry for each layer of each
    /// disk's chain after the disk's own, as libvirt's `--backing` gives them: name, path, node
    /// number and sizes (the counters are the device's, reported on its image only).
    static func blockParameters(
        _ record: DomainRecord, counters: [String: GuestStatistics.BlockCounters], capacities: [String: UInt64],
        backing: [String: (highestWritten: UInt64?, virtualSize: UInt64?)]? = nil
    ) -> [TypedParameter] {
        let devices = record.runtime?.devices ?? GuestDevices(record.definition, runDirectory: "")
        let running = record.runtime != nil
        var entries: [TypedParameter] = []
        var count: UInt32 = 0
        func sizes(_ path: String, format: String?, allocation: UInt64?, capacity: UInt64?) {
            guard let host = GuestStatistics.hostSizes(path) else { return }
            // libvirt's meanings here (not block info's): allocation is the highest offset
            // written (a running guest) or what the image takes (a stopped one); physical is
            // what the image takes on the host.
            let prefix = "block.\(count)."
            entries.append(.init(prefix + "allocation", .unsignedLongLong(running ? allocation ?? 0 : host.allocated)))
            if let capacity = capacity ?? (format == nil || format == "raw" ? host.length : nil) {
                entries.append(.init(prefix + "capacity", .unsignedLongLong(capacity)))
            }
            entries.append(.init(prefix + "physical", .unsignedLongLong(running ? host.allocated : host.length)))
        }
        for disk in devices.disks {
            let prefix = "block.\(count)."
            entries.append(.init(prefix + "name", .string(disk.target)))
            if let source = disk.source {
                entries.append(.init(prefix + "path", .string(source)))
                entries.append(.init(prefix + "backingIndex", .uint(disk.nodeIndex)))
            }
            if let c = counters[disk.target] {
                for (name, value) in [
                    ("rd.reqs", c.readRequests), ("rd.bytes", c.readBytes), ("rd.times", c.readNanoseconds),
                    ("wr.reqs", c.writeRequests), ("wr.bytes", c.writeBytes), ("wr.times", c.writeNanoseconds),
                    ("fl.reqs", c.flushRequests), ("fl.times", c.flushNanoseconds),
                ] {
                    entries.append(.init(prefix + name, .unsignedLongLong(UInt64(clamping: value))))
                }
            }
            if let source = disk.source {
                sizes(source, format: disk.format, allocation: counters[disk.target]?.highestWrittenOffset, capacity: capacities[disk.target])
            }
            count &+= 1
            guard let backing, disk.source != nil else { continue }
            for (layer, number) in zip(disk.backingLayers, disk.backingNodeIndexes) {
                let prefix = "block.\(count)."
                entries.append(.init(prefix + "name", .string(disk.target)))
                if let path = layer.path { entries.append(.init(prefix + "path", .string(path))) }
                entries.append(.init(prefix + "backingIndex", .uint(number)))
                let node = backing[GuestDevices.formatNode(number)]
                if let path = layer.path, layer.type == .file || layer.type == .block {
                    sizes(path, format: layer.format, allocation: node?.highestWritten, capacity: node?.virtualSize)
                }
                count &+= 1
            }
        }
        return [.init("block.count", .uint(count))] + entries
    }
}


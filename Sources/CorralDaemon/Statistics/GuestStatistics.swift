import CorralJSON
import CorralProtocol
import CorralStorage
import Foundation
import QEMUCommandLine
import QMP

/// A running guest's statistics, gathered from QEMU (on the daemon's own monitor) and from
/// `/proc`: block I/O, image sizes, the balloon, vCPU threads, taps.
enum GuestStatistics {
    /// One disk's I/O counters (`query-blockstats`).
    struct BlockCounters: Hashable, Sendable {
        var readRequests: Int64 = 0, readBytes: Int64 = 0, readNanoseconds: Int64 = 0
        var writeRequests: Int64 = 0, writeBytes: Int64 = 0, writeNanoseconds: Int64 = 0
        var flushRequests: Int64 = 0, flushNanoseconds: Int64 = 0
        var failed: Int64 = 0
        /// The highest offset written; `nil` when QEMU does not know it.
        var highestWrittenOffset: UInt64?

        mutating func add(_ other: BlockCounters) {
            readRequests &+= other.readRequests
            readBytes &+= other.readBytes
            readNanoseconds &+= other.readNanoseconds
            writeRequests &+= other.writeRequests
            writeBytes &+= other.writeBytes
            writeNanoseconds &+= other.writeNanoseconds
            flushRequests &+= other.flushRequests
            flushNanoseconds &+= other.flushNanoseconds
            failed &+= other.failed
        }
    }

    /// A disk's sizes as `virDomainGetBlockInfo` reports them.
    struct BlockLimits: Hashable, Sendable {
        var capacity: UInt64
        var allocation: UInt64
        var physical: UInt64
    }

    /// The balloon's report (`query-balloon` and the driver's `guest-stats`).
    struct BalloonReport: Hashable, Sendable {
        /// The guest's memory as the balloon leaves it, in KiB.
        var actualKiB: UInt64
        /// libvirt's memory statistics (tag, value), in its tags' units.
        var statistics: [(tag: MemoryStatisticTag, value: UInt64)] = []

        static func == (a: BalloonReport, b: BalloonReport) -> Bool {
            a.actualKiB == b.actualKiB && a.statistics.elementsEqual(b.statistics) { $0.tag == $1.tag && $0.value == $1.value }
        }

        func hash(into hasher: inout Hasher) { hasher.combine(actualKiB) }
    }

    /// libvirt's `virDomainMemoryStatTags`.
    enum MemoryStatisticTag: Int32, Sendable, CaseIterable {
        case swapIn = 0, swapOut, majorFault, minorFault, unused, available, actualBalloon, rss, usable, lastUpdate, diskCaches, hugetlbAllocations,
            hugetlbFailures

        /// The name in `CONNECT_GET_ALL_DOMAIN_STATS`' balloon group.
        var statsName: String {
            switch self {
            case .swapIn: "swap_in"
            case .swapOut: "swap_out"
            case .majorFault: "major_fault"
            case .minorFault: "minor_fault"
            case .unused: "unused"
            case .available: "available"
            case .actualBalloon: "current"
            case .rss: "rss"
            case .usable: "usable"
            case .lastUpdate: "last-update"
            case .diskCaches: "disk_caches"
            case .hugetlbAllocations: "hugetlb_pgalloc"
            case .hugetlbFailures: "hugetlb_pgfail"
            }
        }
    }

    static func monitorFailure(_ error: QMPError) -> RemoteError {
        RemoteError(code: .operationFailed, domain: .qemu, detail: "monitor error: \(error)")
    }

    /// The reply to the argument-less QMP `command` on the daemon's monitor of `guest`.
    static func query(_ guest: GuestRuntime, _ command: String) async throws(RemoteError) -> JSONValue {
        try await query(guest.qmp, command)
    }

    /// `command`'s return value on the daemon's session `qmp`, with libvirt's errors.
    static func query(_ qmp: QMPClient, _ command: String) async throws(RemoteError) -> JSONValue {
        do throws(QMPError) {
            return try await qmp.execute(command)
        } catch {
            throw monitorFailure(error)
        }
    }

    // MARK: - CPU and memory extras

    /// QEMU's last dirty-rate calculation (`query-dirty-rate`); `nil` if it cannot say.
    static func dirtyRate(_ guest: GuestRuntime) async -> JSONValue? {
        try? await guest.qmp.execute("query-dirty-rate")
    }

    /// Time the vCPUs spent polling before halting, successfully and not (ns, summed over
    /// vCPUs), from KVM's statistics (`query-stats`); a TCG guest does not poll: zeros.
    static func haltPolling(_ guest: GuestRuntime, kvm: Bool) async -> (success: UInt64, fail: UInt64)? {
        guard kvm else { return (0, 0) }
        let request: JSONValue = .object([
            ("target", .string("vcpu")),
            ("providers", .array([.object([("provider", .string("kvm")), ("names", .array([.string("halt_poll_success_ns"), .string("halt_poll_fail_ns")]))])])),
        ])
        guard let reply = try? await guest.qmp.execute("query-stats", arguments: request), case .array(let vcpus) = reply else { return nil }
        var success: UInt64 = 0, fail: UInt64 = 0
        for vcpu in vcpus {
            for provider in vcpu["stats"]?.arrayValue ?? [] {
                guard let name = provider["name"]?.stringValue, let value = provider["value"]?.uint64Value else { continue }
                if name == "halt_poll_success_ns" { success = success &+ value }
                if name == "halt_poll_fail_ns" { fail = fail &+ value }
            }
        }
        return (success, fail)
    }

    // MARK: - Block devices

    /// Every disk's counters, keyed by target (`vda`).
    static func blockCounters(_ guest: GuestRuntime) async throws(RemoteError) -> [String: BlockCounters] {
        let reply: JSONValue
        do throws(QMPError) {
            reply = try await guest.qmp.execute("query-blockstats", arguments: .object([("query-nodes", .bool(false))]))
        } catch {
            throw monitorFailure(error)
        }
        guard case .array(let entries) = reply else { return [:] }
        var counters: [String: BlockCounters] = [:]
        for entry in entries {
            guard let disk = disk(for: entry, in: guest.devices), let stats = entry["stats"] else { continue }
            func value(_ key: String) -> Int64 { stats[key]?.intValue ?? 0 }
            counters[disk.target] = BlockCounters(
                readRequests: value("rd_operations"), readBytes: value("rd_bytes"), readNanoseconds: value("rd_total_time_ns"),
                writeRequests: value("wr_operations"), writeBytes: value("wr_bytes"), writeNanoseconds: value("wr_total_time_ns"),
                flushRequests: value("flush_operations"), flushNanoseconds: value("flush_total_time_ns"),
                failed: value("failed_rd_operations") &+ value("failed_wr_operations") &+ value("failed_flush_operations"),
                highestWrittenOffset: stats["wr_highest_offset"]?.uint64Value)
        }
        return counters
    }

    /// The disk a `query-blockstats`/`query-block` entry is about: by its root node, else by
    /// its device (`qdev`: the id or `/machine/peripheral/ID/…`).
    static func disk(for entry: JSONValue, in devices: GuestDevices) -> GuestDevices.Disk? {
        if let node = entry["node-name"]?.stringValue ?? entry["inserted"]?["node-name"]?.stringValue,
            let disk = devices.disks.first(where: { $0.formatNode == node })
        {
            return disk
        }
        guard let qdev = entry["qdev"]?.stringValue else { return nil }
        return devices.disks.first { qdev == $0.alias || qdev.hasPrefix("/machine/peripheral/\($0.alias)/") || qdev == "/machine/peripheral/\($0.alias)" }
    }

    /// The virtual sizes QEMU reports for the disks' images, keyed by target.
    static func virtualSizes(_ guest: GuestRuntime) async throws(RemoteError) -> [String: UInt64] {
        let reply = try await query(guest, "query-block")
        guard case .array(let entries) = reply else { return [:] }
        var sizes: [String: UInt64] = [:]
        for entry in entries {
            guard let disk = disk(for: entry, in: guest.devices), let size = entry["inserted"]?["image"]?["virtual-size"]?.uint64Value else { continue }
            sizes[disk.target] = size
        }
        return sizes
    }

    /// Every block node's highest offset written and virtual size, keyed by node name
    /// (`libvirt-N-format`): what a backing layer's statistics report.
    static func nodeSizes(_ guest: GuestRuntime) async throws(RemoteError) -> [String: (highestWritten: UInt64?, virtualSize: UInt64?)] {
        let statistics: JSONValue
        do throws(QMPError) {
            statistics = try await guest.qmp.execute("query-blockstats", arguments: .object([("query-nodes", .bool(true))]))
        } catch {
            throw monitorFailure(error)
        }
        let nodes: JSONValue
        do throws(QMPError) {
            nodes = try await guest.qmp.execute("query-named-block-nodes", arguments: .object([("flat", .bool(true))]))
        } catch {
            throw monitorFailure(error)
        }
        var sizes: [String: (highestWritten: UInt64?, virtualSize: UInt64?)] = [:]
        for entry in statistics.arrayValue ?? [] {
            guard let name = entry["node-name"]?.stringValue else { continue }
            sizes[name, default: (nil, nil)].highestWritten = entry["stats"]?["wr_highest_offset"]?.uint64Value
        }
        for node in nodes.arrayValue ?? [] {
            guard let name = node["node-name"]?.stringValue else { continue }
            sizes[name, default: (nil, nil)].virtualSize = node["image"]?["virtual-size"]?.uint64Value
        }
        return sizes
    }

    /// The sizes of an image file or block device on the host: its length and the bytes it
    /// takes on disk.
    static func hostSizes(_ path: String) -> (length: UInt64, allocated: UInt64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        if (info.st_mode & S_IFMT) == S_IFBLK {
            let size = VolumeFiles.blockDeviceSize(path)
            return (size, size)
        }
        let length = UInt64(max(0, info.st_size))
        let (allocated, overflow) = UInt64(max(0, info.st_blocks)).multipliedReportingOverflow(by: 512)
        return (length, overflow ? .max : allocated)
    }

    /// The virtual size of a stopped guest's image: from its header, read in-process as the
    /// storage driver reads it, else from `qemu-img info`. Blocking.
    static func imageCapacity(_ path: String, format: String) -> UInt64? {
        if let size = VolumeFiles.probe(path).virtualSize { return size }
        guard let volumeFormat = VolumeFormat(rawValue: format) else { return nil }
        return QemuImg.virtualSize(path: path, format: volumeFormat)
    }

    /// libvirt's block info: capacity from QEMU, physical from the host, allocation the highest
    /// offset written (raw images) or what the image takes on disk.
    static func limits(capacity: UInt64?, host: (length: UInt64, allocated: UInt64), highestWritten: UInt64?, isQcow2: Bool) -> BlockLimits {
        var allocation = isQcow2 ? host.allocated : (highestWritten ?? 0)
        if allocation == 0 { allocation = host.allocated }
        return BlockLimits(capacity: capacity ?? host.length, allocation: allocation, physical: host.length)
    }

    // MARK: - Memory

    /// The balloon's report: the actual size, the driver's statistics when QEMU polls them, and
    /// the process's resident memory.
    static func balloon(_ guest: GuestRuntime, definedKiB: UInt64) async -> BalloonReport {
        var report = BalloonReport(actualKiB: guest.balloonKiB ?? definedKiB)
        if guest.devices.balloon != nil, guest.balloonKiB == nil, let reply = try? await guest.qmp.execute("query-balloon"),
            let actual = reply["actual"]?.uint64Value
        {
            report.actualKiB = actual / 1024
        }
        // Without a polling period QEMU has no statistics to give (it would answer -1s).
        if let balloon = guest.devices.balloon, guest.balloonStatisticsPeriod != 0,
            let stats = try? await guest.qmp.execute(
                "qom-get", arguments: .object([("path", .string("/machine/peripheral/\(balloon)")), ("property", .string("guest-stats"))]))
        {
            let bytes: [(String, MemoryStatisticTag)] = [
                ("stat-swap-in", .swapIn), ("stat-swap-out", .swapOut), ("stat-major-faults", .majorFault), ("stat-minor-faults", .minorFault),
                ("stat-free-memory", .unused), ("stat-total-memory", .available), ("stat-available-memory", .usable),
                ("stat-disk-caches", .diskCaches), ("stat-htlb-pgalloc", .hugetlbAllocations), ("stat-htlb-pgfail", .hugetlbFailures),
            ]
            for (name, tag) in bytes {
                // QEMU reports -1 for what the guest did not give.
                guard let value = stats["stats"]?[name]?.intValue, value >= 0 else { continue }
                let inKiB: Bool
                switch tag {
                case .swapIn, .swapOut, .unused, .available, .usable, .diskCaches: inKiB = true
                default: inKiB = false
                }
                report.statistics.append((tag, inKiB ? UInt64(value) / 1024 : UInt64(value)))
            }
            if let update = stats["last-update"]?.intValue, update > 0 { report.statistics.append((.lastUpdate, UInt64(update))) }
        }
        report.statistics.append((.actualBalloon, report.actualKiB))
        if let rss = ProcessStatistics.residentKiB(pid: guest.pid) { report.statistics.append((.rss, rss)) }
        report.statistics.sort { $0.tag.rawValue < $1.tag.rawValue }
        return report
    }

    // MARK: - vCPUs

    /// The host thread of each vCPU, in vCPU order (`query-cpus-fast`).
    static func vcpuThreads(_ guest: GuestRuntime) async throws(RemoteError) -> [Int32] {
        if let known = guest.vcpuThreads { return known }
        return try await vcpuThreads(guest.qmp)
    }

    /// The host thread of each vCPU of the QEMU behind `qmp`, in vCPU order.
    static func vcpuThreads(_ qmp: QMPClient) async throws(RemoteError) -> [Int32] {
        vcpuThreads(queryCPUsFast: try await query(qmp, "query-cpus-fast"))
    }

    /// The host thread of each vCPU, in vCPU order, from a `query-cpus-fast` reply.
    static func vcpuThreads(queryCPUsFast reply: JSONValue) -> [Int32] {
        guard case .array(let cpus) = reply else { return [] }
        return cpus.compactMap { cpu -> (Int64, Int32)? in
            guard let index = cpu["cpu-index"]?.intValue, let thread = cpu["thread-id"]?.intValue, let tid = Int32(exactly: thread) else { return nil }
            return (index, tid)
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// The host thread of each I/O thread of the running guest, by its id (`iothreadN`).
    static func ioThreads(_ guest: GuestRuntime) async throws(RemoteError) -> [Int: Int32] {
        try await ioThreads(guest.qmp)
    }

    /// The host thread of each I/O thread of the QEMU behind `qmp`, by its id.
    static func ioThreads(_ qmp: QMPClient) async throws(RemoteError) -> [Int: Int32] {
        let reply = try await query(qmp, "query-iothreads")
        guard case .array(let threads) = reply else { return [:] }
        var byID: [Int: Int32] = [:]
        for thread in threads {
            guard let name = thread["id"]?.stringValue, name.hasPrefix("iothread"), let id = Int(name.dropFirst("iothread".count)),
                let tid = thread["thread-id"]?.intValue.flatMap({ Int32(exactly: $0) })
            else { continue }
            byID[id] = tid
        }
        return byID
    }
}

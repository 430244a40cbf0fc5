import CorralProtocol
import Foundation

/// The host's CPU and memory statistics as libvirt reports them (`virNodeGetCPUStats`,
/// `virNodeGetMemoryStats`, `virNodeGetCellsFreeMemory`, `virNodeGetFreeMemory`): pure parsers
/// of `/proc/stat` and the meminfo files, and their readers (which block, so callers run them
/// on the thread pool).
enum HostStatistics {
    /// The fields of `virNodeGetCPUStats`, in libvirt's order.
    static let cpuFields = ["kernel", "user", "idle", "iowait"]
    /// The fields of `virNodeGetMemoryStats` for the whole host, in libvirt's order.
    static let memoryFields = ["total", "free", "buffers", "cached"]
    /// The fields for one NUMA cell (its meminfo has no buffers or page cache lines).
    static let cellMemoryFields = ["total", "free"]

    /// CPU times in nanoseconds from `/proc/stat` text, for all CPUs (`cpu` = -1) or CPU `cpu`;
    /// `nil` when that CPU has no line. libvirt's sums: kernel = system + irq + softirq,
    /// user = user + nice.
    static func cpuTimes(procStat text: String, cpu: Int32, ticksPerSecond: UInt64) -> [(String, UInt64)]? {
        let label = cpu < 0 ? "cpu" : "cpu\(cpu)"
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.first == Substring(label) else { continue }
            let ticks = fields.dropFirst().map { UInt64($0) ?? 0 }
            guard ticks.count >= 7 else { return nil }
            let nanosecondsPerTick = 1_000_000_000 / max(1, ticksPerSecond)
            func ns(_ value: UInt64) -> UInt64 {
                let (product, overflow) = value.multipliedReportingOverflow(by: nanosecondsPerTick)
                return overflow ? UInt64.max : product
            }
            let (user, nice, system, idle, iowait, irq, softirq) = (ticks[0], ticks[1], ticks[2], ticks[3], ticks[4], ticks[5], ticks[6])
            return [("kernel", ns(system &+ irq &+ softirq)), ("user", ns(user &+ nice)), ("idle", ns(idle)), ("iowait", ns(iowait))]
        }
        return nil
    }

    /// KiB values of `keys` from meminfo text (`/proc/meminfo`, or a NUMA node's, whose lines
    /// start with `Node N `); a missing key reads 0.
    static func meminfo(_ text: String, keys: [String]) -> [String: UInt64] {
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            var words = line.split(separator: " ", omittingEmptySubsequences: true)
            if words.first == "Node", words.count > 2 { words.removeFirst(2) }
            guard words.count >= 2, words[0].hasSuffix(":") else { continue }
            let key = String(words[0].dropLast())
            if keys.contains(key), let value = UInt64(words[1]) { values[key] = value }
        }
        return values
    }

    /// The NUMA cells (`/sys/devices/system/node/nodeN`), in order; one cell 0 when the host
    /// shows none.
    static func cells() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/devices/system/node")) ?? []
        let numbers = names.compactMap { $0.hasPrefix("node") ? Int($0.dropFirst(4)) : nil }.sorted()
        return numbers.isEmpty ? [0] : numbers
    }

    /// A cell's meminfo text (the host's when it has no NUMA information).
    static func cellMeminfo(_ cell: Int) -> String {
        (try? String(contentsOfFile: "/sys/devices/system/node/node\(cell)/meminfo", encoding: .utf8))
            ?? (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
    }

    /// `NODE_GET_CPU_STATS`.
    static func cpuStats(cpu: Int32, nparams: Int32) throws(RemoteError) -> (params: [NodeStatistic], nparams: Int32) {
        let count = Int32(cpuFields.count)
        guard nparams != 0 else { return ([], count) }
        guard nparams == count else {
            throw RemoteError.invalidArgument("nparams in virHostCPUGetStatsLinux must be equal to \(count)")
        }
        let text = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) ?? ""
        let ticks = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        guard cpu >= -1, let times = cpuTimes(procStat: text, cpu: cpu, ticksPerSecond: ticks) else {
            throw RemoteError.invalidArgument("Invalid cpuNum in virHostCPUGetStatsLinux")
        }
        return (times.map { NodeStatistic(field: $0.0, value: $0.1) }, count)
    }

    /// `NODE_GET_MEMORY_STATS` (KiB).
    static func memoryStats(cell: Int32, nparams: Int32) throws(RemoteError) -> (params: [NodeStatistic], nparams: Int32) {
        let cells = Self.cells()
        let last = cells.last ?? 0
        guard cell >= -1, cell <= last else {
            throw RemoteError.invalidArgument("cellNum in virHostMemGetStats must be less than or equal to \(last)")
        }
        let fields = cell == -1 ? memoryFields : cellMemoryFields
        let count = Int32(fields.count)
        guard nparams != 0 else { return ([], count) }
        guard nparams == count else {
            throw RemoteError.invalidArgument("nparams in virHostMemGetStatsLinux must be \(count)")
        }
        let keys = ["MemTotal", "MemFree", "Buffers", "Cached"]
        let text = cell == -1 ? ((try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? "") : cellMeminfo(Int(cell))
        let values = meminfo(text, keys: keys)
        return (zip(fields, keys).map { NodeStatistic(field: $0.0, value: values[$0.1] ?? 0) }, count)
    }

    /// `NODE_GET_CELLS_FREE_MEMORY` (bytes per cell).
    static func cellsFreeMemory(start: Int32, maximum: Int32) throws(RemoteError) -> [UInt64] {
        guard maximum >= 0 else { throw RemoteError(code: .rpc, domain: .rpc, detail: "maxcells must be non-negative") }
        guard maximum <= 1024 else { throw RemoteError(code: .rpc, domain: .rpc, detail: "maxcells > REMOTE_NODE_MAX_CELLS") }
        guard start >= 0 else {
            throw RemoteError.invalidArgument("startCell in virNodeGetCellsFreeMemory must be zero or greater", domain: .domain)
        }
        let cells = Self.cells()
        let last = cells.last ?? 0
        guard start >= 0, start <= last else {
            throw RemoteError(code: .internalError, domain: .none, detail: "start cell \(start) out of range (0-\(last))")
        }
        return cells.filter { $0 >= Int(start) }.prefix(Int(maximum)).map { cell in
            (meminfo(cellMeminfo(cell), keys: ["MemFree"])["MemFree"] ?? 0).multipliedReportingOverflow(by: 1024).partialValue
        }
    }

    /// `NODE_GET_FREE_MEMORY`: free bytes over every cell.
    static func freeMemory() -> UInt64 {
        cells().reduce(UInt64(0)) { sum, cell in
            sum &+ (meminfo(cellMeminfo(cell), keys: ["MemFree"])["MemFree"] ?? 0) &* 1024
        }
    }

    /// Parses a kernel CPU list (`0-3,5,8-9`) into CPU numbers; `nil` when malformed or beyond
    /// `limit` CPUs.
    static func cpuList(_ text: String, limit: Int = 16_384) -> [Int]? {
        var cpus: [Int] = []
        for part in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1).map { Int($0) }
            guard let first = bounds.first ?? nil, first >= 0, first < limit else { return nil }
            let last = bounds.count == 2 ? (bounds[1] ?? -1) : first
            guard last >= first, last < limit else { return nil }
            cpus += Array(first...last)
        }
        return cpus
    }

    /// `virNodeGetCPUMap`: how many CPUs the host has (one more than the highest present), which
    /// are online, and the map of those.
    static func cpuMap() -> (count: Int, online: [Int]) {
        let present = (try? String(contentsOfFile: "/sys/devices/system/cpu/present", encoding: .utf8)).flatMap { cpuList($0) } ?? []
        let online = (try? String(contentsOfFile: "/sys/devices/system/cpu/online", encoding: .utf8)).flatMap { cpuList($0) } ?? present
        return ((present.max() ?? online.max() ?? 0) + 1, online)
    }
}

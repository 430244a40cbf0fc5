import CProcessDescriptors
import Foundation
import Glibc

/// What Linux's `/proc` says about a guest's QEMU process and its threads: CPU time, scheduler
/// waits, memory, affinity, and the taps it holds. Parsing is pure (tested with sample text);
/// the readers read small in-memory procfs files and are meant for tasks, not event loops.
enum ProcessStatistics {
    /// CPU time of a process or thread, from its `stat` line.
    struct CPUTimes: Hashable, Sendable {
        /// User time in nanoseconds.
        var user: UInt64
        /// System time in nanoseconds.
        var system: UInt64
        /// The CPU it last ran on.
        var processor: Int32

        var total: UInt64 { user &+ system }
    }

    /// Scheduler counters of a thread (`schedstat`): time on a CPU, time waiting for one.
    struct SchedulerTimes: Hashable, Sendable {
        var running: UInt64
        var waiting: UInt64
    }

    /// Nanoseconds per clock tick (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
    static let nanosecondsPerTick: UInt64 = {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? 1_000_000_000 / UInt64(ticks) : 10_000_000
    }()

    /// Parses a `/proc/…/stat` line: fields after the command name (which may hold spaces and
    /// parentheses, so the split starts after the last `)`): utime is field 14, stime 15,
    /// processor 39.
    static func parseStat(_ text: String) -> CPUTimes? {
        guard let fields = statFields(text), fields.count > 36, let user = UInt64(fields[11]), let system = UInt64(fields[12]), let processor = Int32(fields[36]) else { return nil }
        let (userNanoseconds, o1) = user.multipliedReportingOverflow(by: nanosecondsPerTick)
        let (systemNanoseconds, o2) = system.multipliedReportingOverflow(by: nanosecondsPerTick)
        return CPUTimes(user: o1 ? .max : userNanoseconds, system: o2 ? .max : systemNanoseconds, processor: processor)
    }

    /// The fields of a `/proc/…/stat` line after the command name: `[0]` is field 3 (state).
    static func statFields(_ text: String) -> [Substring]? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    }

    /// Parses a `schedstat` line: running and waiting nanoseconds.
    static func parseSchedulerTimes(_ text: String) -> SchedulerTimes? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, let running = UInt64(fields[0]), let waiting = UInt64(fields[1]) else { return nil }
        return SchedulerTimes(running: running, waiting: waiting)
    }

    /// Parses the time a thread waited to run from its `sched` file (`se.statistics.wait_sum`,
    /// milliseconds with a fraction; only with the kernel's schedstats), in nanoseconds.
    static func parseWaitSum(_ text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("se.statistics.wait_sum") || line.hasPrefix("se.wait_sum") {
            guard let colon = line.firstIndex(of: ":"), let milliseconds = Double(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)),
                milliseconds >= 0, milliseconds < 1e12
            else { return nil }
            return UInt64(milliseconds * 1_000_000)
        }
        return nil
    }

    /// Parses `VmRSS:` from a `status` file, in KiB.
    static func parseResidentKiB(_ text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { UInt64($0) }
        }
        return nil
    }

    /// A tap's counters as the guest sees them (the host's receive is the guest's transmit).
    struct InterfaceCounters: Hashable, Sendable {
        var rxBytes: Int64 = 0, rxPackets: Int64 = 0, rxErrors: Int64 = 0, rxDrops: Int64 = 0
        var txBytes: Int64 = 0, txPackets: Int64 = 0, txErrors: Int64 = 0, txDrops: Int64 = 0
    }

    /// Parses `/proc/net/dev` for `interface`, swapped to the guest's view as libvirt reports
    /// taps; a macvtap shares the host's view (what it receives, the guest receives), so it is
    /// not swapped (libvirt's `virDomainNetTypeSharesHostView`).
    static func parseInterfaceCounters(_ text: String, interface: String, sharesHostView: Bool = false) -> InterfaceCounters? {
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"), line[..<colon].trimmingCharacters(in: .whitespaces) == interface else { continue }
            let values = line[line.index(after: colon)...].split(separator: " ").map { Int64($0) ?? 0 }
            guard values.count >= 12 else { return nil }
            // Host view: rx bytes, packets, errs, drop (0-3) … tx bytes, packets, errs, drop (8-11).
            let (received, sent) = sharesHostView ? (0, 8) : (8, 0)
            return InterfaceCounters(
                rxBytes: values[received], rxPackets: values[received + 1], rxErrors: values[received + 2], rxDrops: values[received + 3],
                txBytes: values[sent], txPackets: values[sent + 1], txErrors: values[sent + 2], txDrops: values[sent + 3])
        }
        return nil
    }

    // MARK: - Readers

    static func read(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }

    static func cpuTimes(pid: Int32) -> CPUTimes? { read("/proc/\(pid)/stat").flatMap(parseStat) }

    static func cpuTimes(pid: Int32, thread: Int32) -> CPUTimes? { read("/proc/\(pid)/task/\(thread)/stat").flatMap(parseStat) }

    static func schedulerTimes(pid: Int32, thread: Int32) -> SchedulerTimes? {
        read("/proc/\(pid)/task/\(thread)/schedstat").flatMap(parseSchedulerTimes)
    }

    static func waitNanoseconds(pid: Int32, thread: Int32) -> UInt64? {
        read("/proc/\(pid)/task/\(thread)/sched").flatMap(parseWaitSum)
    }

    static func residentKiB(pid: Int32) -> UInt64? { read("/proc/\(pid)/status").flatMap(parseResidentKiB) }

    static func interfaceCounters(_ interface: String, sharesHostView: Bool = false) -> InterfaceCounters? {
        read("/proc/net/dev").flatMap { parseInterfaceCounters($0, interface: interface, sharesHostView: sharesHostView) }
    }

    /// The host CPUs a thread may run on, as libvirt's cpumap: `length` bytes, bit `n % 8` of
    /// byte `n / 8` for CPU `n`.
    static func affinity(thread: Int32, length: Int) -> [UInt8] {
        // The kernel wants whole words and at least its own mask size (1024 CPUs here is plenty).
        var mask = [UInt8](repeating: 0, count: 128)
        let filled = mask.withUnsafeMutableBufferPointer { corral_thread_affinity(thread, $0.baseAddress, UInt($0.count)) }
        var map = [UInt8](repeating: 0, count: length)
        guard filled > 0 else { return map }
        for index in 0..<min(length, Int(filled)) { map[index] = mask[index] }
        return map
    }

    /// The taps the process holds, in the order it opened them (`/dev/net/tun` descriptors
    /// and the interface each is attached to, from `fdinfo`).
    static func tapNames(pid: Int32) -> [String] {
        let directory = "/proc/\(pid)/fd"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var taps: [(Int, String)] = []
        for entry in entries {
            guard let fd = Int(entry), let target = try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + entry),
                target == "/dev/net/tun", let info = read("/proc/\(pid)/fdinfo/\(fd)")
            else { continue }
            for line in info.split(separator: "\n") where line.hasPrefix("iff:") {
                taps.append((fd, line.dropFirst(4).trimmingCharacters(in: .whitespaces)))
            }
        }
        return taps.sorted { $0.0 < $1.0 }.map(\.1)
    }
}

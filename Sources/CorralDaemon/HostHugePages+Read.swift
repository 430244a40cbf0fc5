import Foundation
import QEMUCommandLine

extension HostHugePages {
    /// The host's huge pages as its kernel reports them: a `hugepages-NkB` directory per size in
    /// `/sys/kernel/mm/hugepages`, the default size from `/proc/meminfo`. Read at each start
    /// (an administrator may reserve pages while the daemon runs); file reads, off the event
    /// loops like the rest of a start.
    static func read() -> HostHugePages {
        var sizes: Set<UInt64> = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/mm/hugepages")) ?? [] {
            guard entry.hasPrefix("hugepages-"), entry.hasSuffix("kB"), let size = UInt64(entry.dropFirst("hugepages-".count).dropLast(2)) else { continue }
            sizes.insert(size)
        }
        var defaultSize: UInt64?
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        for line in meminfo.split(separator: "\n") where line.hasPrefix("Hugepagesize:") {
            defaultSize = line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) }
        }
        return HostHugePages(sizesKiB: sizes, defaultSizeKiB: defaultSize, systemPageSizeKiB: UInt64(max(1, sysconf(Int32(_SC_PAGESIZE)) / 1024)))
    }
}

import CorralProtocol
import Foundation

/// A running guest's control group (`corral/qemu-ID-NAME` under each controller's mount),
/// which its QEMU process is moved into at start, and its tunables as the controllers' files —
/// libvirt's names mapped to v1 or v2 files and units in one place. Every call does file I/O:
/// callers run it off the event loops.
struct GuestCgroup: Sendable, Hashable {
    /// The group's directory for each controller it has.
    var directories: [CgroupLayout.Controller: String]
    var layout: CgroupLayout

    /// The group's name below each controller's root.
    static func relativePath(name: String, id: Int32) -> String { "corral/qemu-\(id)-\(name)" }

    /// The group of guest `name` (id `id`) in `layout`, whether or not it exists yet.
    init(layout: CgroupLayout, name: String, id: Int32) {
        self.layout = layout
        var directories: [CgroupLayout.Controller: String] = [:]
        for (controller, mount) in layout.mounts { directories[controller] = mount.path + "/" + Self.relativePath(name: name, id: id) }
        self.directories = directories
    }

    func version(_ controller: CgroupLayout.Controller) -> CgroupLayout.Version? { layout.mounts[controller]?.version }

    /// Creates the group and moves process `pid` (all its threads) into it; controllers it
    /// cannot use are dropped from it. Returns the group as it then is.
    func create(pid: Int32) -> GuestCgroup {
        var usable = self
        for (controller, directory) in directories {
            guard let mount = layout.mounts[controller] else { continue }
            let parent = (directory as NSString).deletingLastPathComponent
            if mount.version == .v2 {
                // Controllers must be enabled in every ancestor's subtree.
                for ancestor in [mount.path, parent] {
                    Self.write(ancestor + "/cgroup.subtree_control", "+" + controller.unifiedName)
                }
            }
            for path in [parent, directory] where !FileManager.default.fileExists(atPath: path) {
                try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
                if controller == .cpuset && mount.version == .v1 {
                    // A v1 cpuset takes tasks only once it has CPUs and memory nodes.
                    let above = (path as NSString).deletingLastPathComponent
                    for file in ["cpuset.cpus", "cpuset.mems"] { Self.write(path + "/" + file, Self.read(above + "/" + file) ?? "") }
                }
            }
            if !Self.write(directory + "/cgroup.procs", String(pid)) { usable.directories[controller] = nil }
        }
        return usable
    }

    /// Removes the group (its process has ended).
    func remove() {
        removeThreadGroups()
        for directory in directories.values { rmdir(directory) }
    }

    // MARK: - Tunables

    /// libvirt's "unlimited" memory (`VIR_DOMAIN_MEMORY_PARAM_UNLIMITED`, KiB).
    static let unlimitedKiB: UInt64 = 9_007_199_254_740_991

    func directory(_ controller: CgroupLayout.Controller) throws(RemoteError) -> String {
        guard let directory = directories[controller] else { throw Self.unavailable(controller) }
        return directory
    }

    /// libvirt's error for a guest without the controller.
    static func unavailable(_ controller: CgroupLayout.Controller) -> RemoteError {
        let message: String
        switch controller {
        case .cpu: message = "cgroup CPU controller is not mounted"
        case .cpuset: message = "cgroup cpuset controller is not mounted"
        case .memory: message = "cgroup memory controller is not mounted"
        case .blkio: message = "blkio cgroup isn't mounted"
        }
        return RemoteError(code: .operationInvalid, domain: .qemu, detail: message)
    }

    func value(_ controller: CgroupLayout.Controller, _ file: String) throws(RemoteError) -> String {
        let path = try directory(controller) + "/" + file
        guard let text = Self.read(path) else { throw RemoteError(code: .systemError, domain: .cgroup, detail: "Unable to read from '\(path)': \(String(cString: strerror(errno)))") }
        return text
    }

    func set(_ controller: CgroupLayout.Controller, _ file: String, _ value: String) throws(RemoteError) {
        let path = try directory(controller) + "/" + file
        guard Self.write(path, value) else {
            throw RemoteError(code: .systemError, domain: .cgroup, detail: "Unable to write to '\(path)': \(String(cString: strerror(errno)))")
        }
    }

    /// `cpu_shares`: v1 `cpu.shares`, v2 `cpu.weight` (libvirt passes the number through).
    func cpuShares() throws(RemoteError) -> UInt64 {
        UInt64(try value(.cpu, version(.cpu) == .v2 ? "cpu.weight" : "cpu.shares")) ?? 0
    }

    func setCPUShares(_ shares: UInt64) throws(RemoteError) {
        try set(.cpu, version(.cpu) == .v2 ? "cpu.weight" : "cpu.shares", String(shares))
    }

    /// The CFS bandwidth of the whole guest, or of one of its per-thread groups: (period µs,
    /// quota µs or -1 for none).
    func cpuBandwidth(of group: ThreadGroup? = nil) throws(RemoteError) -> (period: UInt64, quota: Int64) {
        let prefix = group.map { $0.name + "/" } ?? ""
        if version(.cpu) == .v2 {
            let parts = try value(.cpu, prefix + "cpu.max").split(separator: " ")
            let period = parts.count > 1 ? UInt64(parts[1]) ?? 100_000 : 100_000
            return (period, parts.first == "max" ? -1 : Int64(parts.first ?? "") ?? -1)
        }
        return (UInt64(try value(.cpu, prefix + "cpu.cfs_period_us")) ?? 100_000, Int64(try value(.cpu, prefix + "cpu.cfs_quota_us")) ?? -1)
    }

    func setCPUBandwidth(period: UInt64?, quota: Int64?, of group: ThreadGroup? = nil) throws(RemoteError) {
        let prefix = group.map { $0.name + "/" } ?? ""
        let current = try cpuBandwidth(of: group)
        let period = period ?? current.period, quota = quota ?? current.quota
        if version(.cpu) == .v2 {
            try set(.cpu, prefix + "cpu.max", "\(quota < 0 ? "max" : String(quota)) \(period)")
        } else {
            // The period first when the quota would not fit the old one.
            try set(.cpu, prefix + "cpu.cfs_period_us", String(period))
            try set(.cpu, prefix + "cpu.cfs_quota_us", String(quota < 0 ? -1 : quota))
        }
    }

    /// A memory limit in KiB (`unlimitedKiB` for none): hard, soft or swap (memory + swap).
    enum MemoryLimit: CaseIterable { case hard, soft, swap }

    func memoryLimit(_ limit: MemoryLimit) throws(RemoteError) -> UInt64 {
        let v2 = version(.memory) == .v2
        func kib(_ file: String) throws(RemoteError) -> UInt64 {
            let text = try value(.memory, file)
            guard text != "max", let bytes = UInt64(text) else { return Self.unlimitedKiB }
            return min(bytes / 1024, Self.unlimitedKiB)
        }
        switch limit {
        case .hard: return try kib(v2 ? "memory.max" : "memory.limit_in_bytes")
        case .soft: return try kib(v2 ? "memory.high" : "memory.soft_limit_in_bytes")
        case .swap:
            guard v2 else { return try kib("memory.memsw.limit_in_bytes") }
            // v2 limits swap alone; libvirt's swap_hard_limit is memory plus swap.
            let swap = try kib("memory.swap.max"), hard = try kib("memory.max")
            return swap >= Self.unlimitedKiB || hard >= Self.unlimitedKiB ? Self.unlimitedKiB : swap + hard
        }
    }

    func setMemoryLimit(_ limit: MemoryLimit, kib: UInt64) throws(RemoteError) {
        let v2 = version(.memory) == .v2
        let unlimited = kib >= Self.unlimitedKiB
        let (bytes, overflow) = kib.multipliedReportingOverflow(by: 1024)
        let text = unlimited || overflow ? (v2 ? "max" : "-1") : String(bytes)
        switch limit {
        case .hard: try set(.memory, v2 ? "memory.max" : "memory.limit_in_bytes", text)
        case .soft: try set(.memory, v2 ? "memory.high" : "memory.soft_limit_in_bytes", text)
        case .swap:
            if v2 {
                let hard = try memoryLimit(.hard)
                try set(.memory, "memory.swap.max", unlimited || hard >= Self.unlimitedKiB ? "max" : String((kib - min(kib, hard)) * 1024))
            } else {
                try set(.memory, "memory.memsw.limit_in_bytes", text)
            }
        }
    }

    /// The weight of the guest's block I/O (BFQ's, else the generic one).
    func blockWeight() throws(RemoteError) -> UInt32 {
        let directory = try directory(.blkio)
        let files = version(.blkio) == .v2 ? ["io.bfq.weight", "io.weight"] : ["blkio.bfq.weight", "blkio.weight"]
        guard let file = files.first(where: { FileManager.default.fileExists(atPath: directory + "/" + $0) }) else {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "blkio device weight is valid only for bfq or cfq scheduler")
        }
        // v2: "default N" (and per-device lines); v1: N.
        let text = try value(.blkio, file)
        let first = text.split(separator: "\n").first.map { $0.split(separator: " ").last.map(String.init) ?? "" } ?? ""
        return UInt32(first) ?? 0
    }

    func setBlockWeight(_ weight: UInt32) throws(RemoteError) {
        let directory = try directory(.blkio)
        let files = version(.blkio) == .v2 ? ["io.bfq.weight", "io.weight"] : ["blkio.bfq.weight", "blkio.weight"]
        guard let file = files.first(where: { FileManager.default.fileExists(atPath: directory + "/" + $0) }) else {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "blkio device weight is valid only for bfq or cfq scheduler")
        }
        try set(.blkio, file, version(.blkio) == .v2 && file == "io.weight" ? "default \(weight)" : String(weight))
    }

    /// Sets the host memory nodes the guest's memory may come from (`cpuset.mems`).
    func setMemoryNodes(_ nodes: String) throws(RemoteError) { try set(.cpuset, "cpuset.mems", nodes) }

    // MARK: - Files

    static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes `value` to a control file in one write; whether the kernel took it.
    @discardableResult
    static func write(_ path: String, _ value: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(value.utf8)
        return bytes.withUnsafeBufferPointer { Glibc.write(descriptor, $0.baseAddress, $0.count) } == bytes.count
    }
}

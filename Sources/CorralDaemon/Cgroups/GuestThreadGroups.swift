import CorralProtocol
import Foundation

/// libvirt's per-thread control groups below a guest's cpu group: `emulator` (QEMU's threads
/// but its vCPUs and I/O threads), `vcpuN` and `iothreadN`, each with its own CFS bandwidth
/// (`<cputune>` `period`/`quota`, `emulator_period`/`emulator_quota`,
/// `iothread_period`/`iothread_quota`). In a v1 hierarchy they are plain children and threads
/// are written to `tasks`; in the unified one they are threaded children (`cgroup.type`),
/// threads are written to `cgroup.threads` and the cpu controller is enabled in the guest
/// group's subtree. File I/O: run off the event loops.
extension GuestCgroup {
    /// One of the per-thread groups.
    enum ThreadGroup: Hashable, Sendable {
        case emulator
        case vcpu(Int)
        case ioThread(Int)

        /// The group's directory name (libvirt's).
        var name: String {
            switch self {
            case .emulator: "emulator"
            case .vcpu(let index): "vcpu\(index)"
            case .ioThread(let id): "iothread\(id)"
            }
        }
    }

    /// Whether the guest's cpu group has per-thread groups.
    var hasThreadGroups: Bool {
        guard let directory = directories[.cpu] else { return false }
        return FileManager.default.fileExists(atPath: directory + "/emulator")
    }

    /// Makes the per-thread groups and moves QEMU's threads into them: every thread of `pid`
    /// into `emulator`, then each vCPU thread (by vCPU index) and I/O thread (by id) into its
    /// own group.
    func makeThreadGroups(pid: Int32, vcpuThreads: [Int32], ioThreads: [Int: Int32]) throws(RemoteError) {
        let directory = try directory(.cpu)
        if version(.cpu) == .v2 {
            // Threaded children first: the group becomes the root of a threaded subtree, in
            // which the cpu controller (a threaded one) is enabled.
            try makeChild(.emulator, in: directory)
            guard Self.write(directory + "/cgroup.subtree_control", "+cpu") else {
                throw RemoteError(code: .systemError, domain: .cgroup, detail: "Unable to enable the cpu controller in '\(directory)': \(String(cString: strerror(errno)))")
            }
        } else {
            try makeChild(.emulator, in: directory)
        }
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"))?.compactMap { Int32($0) } ?? [pid]
        for tid in tasks { try moveThread(tid, to: .emulator) }
        for (index, tid) in vcpuThreads.enumerated() {
            try makeChild(.vcpu(index), in: directory)
            try moveThread(tid, to: .vcpu(index))
        }
        for (id, tid) in ioThreads.sorted(by: { $0.key < $1.key }) {
            try makeChild(.ioThread(id), in: directory)
            try moveThread(tid, to: .ioThread(id))
        }
    }

    /// Moves thread `tid` into `group` (made when missing).
    func moveThread(_ tid: Int32, to group: ThreadGroup) throws(RemoteError) {
        let directory = try directory(.cpu)
        try makeChild(group, in: directory)
        let file = directory + "/" + group.name + (version(.cpu) == .v2 ? "/cgroup.threads" : "/tasks")
        // A thread that has just ended is not an error.
        guard Self.write(file, String(tid)) || errno == ESRCH else {
            throw RemoteError(code: .systemError, domain: .cgroup, detail: "Unable to move thread \(tid) into '\(file)': \(String(cString: strerror(errno)))")
        }
    }

    private func makeChild(_ group: ThreadGroup, in directory: String) throws(RemoteError) {
        let path = directory + "/" + group.name
        guard !FileManager.default.fileExists(atPath: path) else { return }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw RemoteError(code: .systemError, domain: .cgroup, detail: "Unable to create cgroup '\(path)': \(String(cString: strerror(errno)))")
        }
        if version(.cpu) == .v2 { Self.write(path + "/cgroup.type", "threaded") }
    }

    /// The per-thread groups that exist, by name (`emulator`, `vcpu0`, …).
    func threadGroupNames() -> [String] {
        guard let directory = directories[.cpu] else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0 == "emulator" || $0.hasPrefix("vcpu") || $0.hasPrefix("iothread") }.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: directory + "/" + $0, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    /// Removes the per-thread groups (before the guest's group goes).
    func removeThreadGroups() {
        guard let directory = directories[.cpu] else { return }
        for name in threadGroupNames() { rmdir(directory + "/" + name) }
    }

    /// The vCPU groups' indexes, in order.
    func vcpuGroupIndexes() -> [Int] {
        threadGroupNames().compactMap { $0.hasPrefix("vcpu") ? Int($0.dropFirst(4)) : nil }.sorted()
    }

    /// The I/O thread groups' ids, in order.
    func ioThreadGroupIDs() -> [Int] {
        threadGroupNames().compactMap { $0.hasPrefix("iothread") ? Int($0.dropFirst(8)) : nil }.sorted()
    }
}

import Foundation

/// A control group of the benchmark's own for one bare QEMU, laid out as corrald lays out a
/// guest's (`corral/qemu-ID-NAME` under each controller): `corral-bench/NAME` under the cpu,
/// cpuset, memory and blkio controllers (cgroup v1), or in the unified hierarchy (v2).
///
/// So the anchor runs QEMU as corrald runs it: the same command line and the same placement. On
/// one host the source and destination QEMUs share the CPUs, and the scheduler splits them by
/// group (two sibling groups get half each) before thread by thread. In clean runs it changed
/// little (downtime 0.92× bare without it, 0.84× with it), but a busy process elsewhere weighs
/// on the two layouts differently.
struct BenchCgroup {
    let directories: [String]

    /// Moves process `pid` into group `name`; without root or cgroups, no group (an empty one).
    static func place(_ pid: Int32, name: String) -> BenchCgroup {
        guard getuid() == 0 else { return BenchCgroup(directories: []) }
        var directories: [String] = []
        let unified = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        let roots = unified ? ["/sys/fs/cgroup"] : ["cpu", "cpuset", "memory", "blkio"].map { "/sys/fs/cgroup/" + $0 }
        for root in roots where FileManager.default.fileExists(atPath: root + "/cgroup.procs") {
            let parent = root + "/corral-bench", group = parent + "/" + name
            if unified {
                for ancestor in [root, parent] { write(ancestor + "/cgroup.subtree_control", "+cpu +cpuset +memory +io") }
            }
            for path in [parent, group] where !FileManager.default.fileExists(atPath: path) {
                try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
                if root.hasSuffix("/cpuset") {
                    // A v1 cpuset takes tasks only once it has CPUs and memory nodes.
                    let above = (path as NSString).deletingLastPathComponent
                    for file in ["cpuset.cpus", "cpuset.mems"] { write(path + "/" + file, (try? String(contentsOfFile: above + "/" + file, encoding: .utf8)) ?? "") }
                }
                if unified { write(path + "/cgroup.subtree_control", "+cpu +cpuset +memory +io") }
            }
            if write(group + "/cgroup.procs", String(pid)) { directories.append(group) }
        }
        return BenchCgroup(directories: directories)
    }

    /// Removes the group, once its process has ended.
    func remove() {
        for directory in directories { rmdir(directory) }
    }

    @discardableResult
    private static func write(_ path: String, _ text: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return text.utf8CString.withUnsafeBufferPointer { Foundation.write(descriptor, $0.baseAddress, $0.count - 1) } == text.utf8.count
    }
}

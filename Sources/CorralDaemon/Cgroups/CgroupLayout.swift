/// Where this host's control groups are: each controller Corral uses, in a v1 hierarchy of its
/// own or in the unified (v2) one. Read once from `/proc/self/mountinfo`; pure, so tested on
/// both layouts.
struct CgroupLayout: Sendable, Hashable {
    /// The controllers guests' tunables need.
    enum Controller: String, CaseIterable, Sendable {
        case cpu, cpuset, memory, blkio

        /// The controller's name in the unified hierarchy.
        var unifiedName: String { self == .blkio ? "io" : rawValue }
    }

    /// Which hierarchy a controller is in.
    enum Version: Sendable, Hashable {
        case v1, v2
    }

    /// Where a controller is mounted, and in which hierarchy.
    struct Mount: Sendable, Hashable {
        var path: String
        var version: Version
    }

    /// Each available controller's mount.
    var mounts: [Controller: Mount] = [:]

    /// The layout `mountinfo` describes; `unifiedControllers` lists the controllers of a unified
    /// hierarchy's root (its `cgroup.controllers`) when given its mount point.
    static func parse(mountinfo: String, unifiedControllers: (String) -> Set<String>) -> CgroupLayout {
        var layout = CgroupLayout()
        var unified: String?
        for line in mountinfo.split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPER-OPTIONS
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let fields = halves[0].split(separator: " "), tail = halves[1].split(separator: " ")
            guard fields.count >= 5, tail.count >= 3 else { continue }
            let mountPoint = String(fields[4]), type = tail[0]
            if type == "cgroup2" {
                unified = unified ?? mountPoint
            } else if type == "cgroup" {
                let options = Set(tail[2].split(separator: ",").map(String.init))
                for controller in Controller.allCases where options.contains(controller.rawValue) && layout.mounts[controller] == nil {
                    layout.mounts[controller] = Mount(path: mountPoint, version: .v1)
                }
            }
        }
        if let unified {
            let available = unifiedControllers(unified)
            for controller in Controller.allCases where layout.mounts[controller] == nil && available.contains(controller.unifiedName) {
                layout.mounts[controller] = Mount(path: unified, version: .v2)
            }
        }
        return layout
    }
}

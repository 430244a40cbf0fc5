import CorralProtocol
import DomainXML
import Foundation

/// A guest's control group at start (made, QEMU moved into it, the definition's `<cputune>`
/// shares and bandwidth, `<memtune>`, `<blkiotune>` weight and `<numatune>` nodes applied) and
/// after a daemon restart (found again). Blocking: run off the event loops.
enum GuestTunables {
    static func setUp(layout: CgroupLayout, name: String, id: Int32, pid: Int32, definition: DomainDefinition) throws(RemoteError) -> GuestCgroup? {
        let wanted = definition.usesControlGroup
        guard !layout.mounts.isEmpty else {
            if wanted { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "the domain's tunables need control groups, which this daemon cannot use (it needs root and mounted cgroup controllers)") }
            return nil
        }
        let group = GuestCgroup(layout: layout, name: name, id: id).create(pid: pid)
        let tune = definition.cpuTune
        if let shares = tune.shares { try group.setCPUShares(shares) }
        if tune.globalPeriod != nil || tune.globalQuota != nil { try group.setCPUBandwidth(period: tune.globalPeriod, quota: tune.globalQuota) }
        let memory = definition.memoryTune
        // Hard before swap: v1 refuses a memory+swap limit below the memory limit.
        if let kib = memory.hardLimitKiB { try group.setMemoryLimit(.hard, kib: kib) }
        if let kib = memory.softLimitKiB { try group.setMemoryLimit(.soft, kib: kib) }
        if let kib = memory.swapHardLimitKiB { try group.setMemoryLimit(.swap, kib: kib) }
        if let weight = definition.blockIOTune.weight { try group.setBlockWeight(weight) }
        if let numa = definition.numaTune, let nodes = numa.nodeset {
            guard numa.mode == .strict || numa.mode == .restrictive else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "numatune mode '\(numa.mode.rawValue)' is not supported by Corral (strict and restrictive are, through cpuset.mems)")
            }
            try group.setMemoryNodes(nodes.description)
        }
        return group
    }

    /// `<cputune>`'s per-thread bandwidths on the per-thread groups that exist: each vCPU's,
    /// the emulator's and each I/O thread's.
    static func applyThreadBandwidths(_ tune: DomainDefinition.CPUTune, to group: GuestCgroup) throws(RemoteError) {
        func apply(_ bandwidth: DomainDefinition.CPUTune.Bandwidth, _ target: GuestCgroup.ThreadGroup) throws(RemoteError) {
            guard !bandwidth.isEmpty else { return }
            try group.setCPUBandwidth(period: bandwidth.period, quota: bandwidth.quota, of: target)
        }
        for index in group.vcpuGroupIndexes() { try apply(tune.vcpuBandwidth, .vcpu(index)) }
        try apply(tune.emulatorBandwidth, .emulator)
        for id in group.ioThreadGroupIDs() { try apply(tune.ioThreadBandwidth, .ioThread(id)) }
    }

    /// The group a guest the daemon finds running again was put in, if it has one.
    static func existing(layout: CgroupLayout, name: String, id: Int32) -> GuestCgroup? {
        var group = GuestCgroup(layout: layout, name: name, id: id)
        group.directories = group.directories.filter { FileManager.default.fileExists(atPath: $0.value) }
        return group.directories.isEmpty ? nil : group
    }
}

import CorralProtocol
import CProcessDescriptors
import DomainXML
import Foundation

/// Where QEMU's threads may run: a vCPU's thread, or every thread of the process that is not a
/// vCPU's (libvirt's "emulator"), with `sched_setaffinity` — Corral does not use cgroups.
enum ThreadPinning {
    /// Pins `thread` to `cpus`; the system's error, if any.
    static func pin(thread: Int32, to cpus: DomainDefinition.CPUSet) throws(RemoteError) {
        // Whole 64-bit words, enough for every CPU libvirt can name.
        let map = cpus.map(length: DomainDefinition.CPUSet.limit / 8)
        let result = map.withUnsafeBufferPointer { corral_set_thread_affinity(thread, $0.baseAddress, UInt($0.count)) }
        guard result == 0 else {
            throw RemoteError(code: .systemError, domain: .qemu, detail: "cannot set CPU affinity of thread \(thread): \(String(cString: strerror(errno)))")
        }
    }

    /// The threads of process `pid`.
    static func threads(of pid: Int32) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).compactMap { Int32($0) }.sorted()
    }

    /// Pins every thread of `pid` but `vcpuThreads` and `ioThreads` (libvirt's "emulator") to `cpus`.
    static func pinEmulator(pid: Int32, vcpuThreads: [Int32], ioThreads: [Int32] = [], to cpus: DomainDefinition.CPUSet) throws(RemoteError) {
        let skipped = Set(vcpuThreads + ioThreads)
        for thread in threads(of: pid) where !skipped.contains(thread) {
            do throws(RemoteError) {
                try pin(thread: thread, to: cpus)
            } catch {
                // A thread that ended meanwhile is no failure.
                if FileManager.default.fileExists(atPath: "/proc/\(pid)/task/\(thread)") { throw error }
            }
        }
    }

    /// Applies a definition's pins to a guest that has just started: each vCPU's own pin, else
    /// `<vcpu cpuset>`; each I/O thread's own pin (`ioThreads`: their threads by id), else
    /// `<vcpu cpuset>`; the emulator's pin, else `<vcpu cpuset>`.
    static func applyDefinition(_ definition: DomainDefinition, pid: Int32, vcpuThreads: [Int32], ioThreads: [Int: Int32] = [:]) throws(RemoteError) {
        for (vcpu, thread) in vcpuThreads.enumerated() {
            if let cpus = definition.cpuTune.vcpuPins[vcpu] ?? definition.vcpuCPUSet { try pin(thread: thread, to: cpus) }
        }
        for (id, thread) in ioThreads.sorted(by: { $0.key < $1.key }) {
            if let cpus = definition.cpuTune.ioThreadPins[id] ?? definition.vcpuCPUSet { try pin(thread: thread, to: cpus) }
        }
        if let cpus = definition.cpuTune.emulatorPin ?? definition.vcpuCPUSet {
            try pinEmulator(pid: pid, vcpuThreads: vcpuThreads, ioThreads: Array(ioThreads.values), to: cpus)
        }
    }
}

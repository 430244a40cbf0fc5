import Foundation
import POSIXSupport

/// One core for each side of a migration, as two hosts would have: the source QEMU's threads on
/// CPU 0, the destination's on CPU 1, set (with `taskset`, every thread) once both QEMUs run and
/// before the stream starts, for the daemons' migrations and the bare ones alike. The daemons
/// and the benchmark itself stay free to run on either core, so what they cost still shows.
///
/// Why: on one 2-core host the two QEMUs compete for the cores in ways two hosts never would,
/// and the benchmark compares daemons, not scheduler placements. It did not remove the largest
/// variation: how fast the last piece of memory goes is bimodal (0.6–0.85 ms per MB in some
/// runs, 1.4–3 in others, in stretches of consecutive runs, for either kind).
enum MigrationCores {
    /// Places the QEMU `source` on CPU 0 and `destination` on CPU 1; on a host with one CPU,
    /// nothing.
    static func separate(source: Int32, destination: Int32) throws {
        guard ProcessInfo.processInfo.activeProcessorCount >= 2 else { return }
        try pin(source, cpus: "0")
        try pin(destination, cpus: "1")
    }

    /// Lets `pid`'s threads run anywhere again.
    static func release(_ pid: Int32) {
        try? pin(pid, cpus: "0-\(ProcessInfo.processInfo.activeProcessorCount - 1)")
    }

    private static func pin(_ pid: Int32, cpus: String) throws {
        let result = try ChildProcess.run("/usr/bin/taskset", ["--all-tasks", "--cpu-list", "--pid", cpus, String(pid)])
        guard result.status == 0 else { throw BenchError("taskset could not place QEMU \(pid) on CPU \(cpus): \(result.standardError)") }
    }

    /// The QEMU running the guest in `runDirectory`.
    static func qemu(runningIn runDirectory: String) throws -> Int32 {
        guard let pid = BenchDaemon.qemuProcesses(naming: runDirectory).first else { throw BenchError("no QEMU runs the guest in \(runDirectory)") }
        return pid
    }
}

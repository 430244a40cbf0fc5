import Foundation
import Synchronization
import POSIXSupport

/// A `corrald` started for the benchmark in a temporary directory.
final class BenchDaemon {
    /// Daemons started by this run, so each gets a directory of its own.
    private static let started = Atomic<Int>(0)
    let directory: String
    let process: ChildProcess
    var uri: String { "qemu+unix:///system?socket=\(directory)/sock" }
    var socketPath: String { directory + "/sock" }

    /// The emulator probe the first daemon of this run made (its state's `cache`), given to
    /// every later daemon: a daemon that probes QEMU itself runs QEMU in the background for
    /// seconds after it starts serving, which would load the machine during a measurement.
    private static let probeCache = NSTemporaryDirectory() + "corral-bench-\(getpid())-probe-cache"

    /// - Parameter namespace: a network namespace to run it in (`ip netns exec`).
    /// - Parameter extraArguments: more options (`--config`, `--listen`).
    init(binary: String, namespace: String? = nil, extraArguments: [String] = []) throws {
        directory = NSTemporaryDirectory() + "corral-bench-\(getpid())-\(Self.started.add(1, ordering: .relaxed).newValue)"
            + (namespace.map { "-" + String($0.suffix(6)) } ?? "")
        try FileManager.default.createDirectory(atPath: directory + "/state", withIntermediateDirectories: true)
        let seeded = FileManager.default.fileExists(atPath: Self.probeCache)
        if seeded { try FileManager.default.copyItem(atPath: Self.probeCache, toPath: directory + "/state/cache") }
        let arguments = ["--socket", directory + "/sock", "--socket-ro", directory + "/sock-ro", "--state-dir", directory + "/state",
                         "--run-dir", directory + "/run", "--log-level", "warning", "--no-default-network"] + extraArguments
        if let namespace {
            process = try ChildProcess.spawn("/usr/sbin/ip", ["netns", "exec", namespace, binary] + arguments)
        } else {
            process = try ChildProcess.spawn(binary, arguments)
        }
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: directory + "/sock") {
            guard process.isRunning, Date() < deadline else { throw BenchError("corrald did not start") }
            usleep(20_000)
        }
        // The first daemon's probe, once written, seeds the others (and no QEMU of its probe
        // is left running when this returns).
        if !seeded {
            let cache = directory + "/state/cache"
            let probed = Date().addingTimeInterval(30)
            while ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).isEmpty && Date() < probed { usleep(20_000) }
            try? FileManager.default.copyItem(atPath: cache, toPath: Self.probeCache)
        }
    }

    /// Removes the seeded probe (at the end of the run).
    static func removeProbeCache() { try? FileManager.default.removeItem(atPath: probeCache) }

    func stop() {
        process.stop()
        killGuestsLeftRunning()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Guests outlive their daemon, as libvirtd's do; a benchmark that failed half-way may leave
    /// one running (busy, loading every later measurement).
    private func killGuestsLeftRunning() {
        for pid in Self.qemuProcesses(naming: directory + "/run") { kill(pid, SIGKILL) }
    }

    /// The QEMU processes whose command line names a path under `directory` (a daemon's run
    /// directory, or one guest's).
    static func qemuProcesses(naming directory: String) -> [Int32] {
        let marker = Array((directory + "/").utf8), program = Array("/usr/bin/qemu-system".utf8)
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard entry.allSatisfy(\.isNumber), let pid = Int32(entry),
                  let commandLine = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline").map(Array.init),
                  commandLine.starts(with: program), commandLine.firstRange(of: marker) != nil
            else { return nil }
            return pid
        }
    }
}

/// libvirtd for the benchmark: a running one is used as is, else one is started and stopped.
struct BenchLibvirtd {
    var uri = "qemu:///system"
    var started: Bool
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Scripts/test-libvirtd.sh").path

    static func start() -> BenchLibvirtd? {
        guard let output = try? shell(["/bin/bash", script, "start"]) else { return nil }
        return BenchLibvirtd(started: output.contains("started"))
    }

    /// The running libvirtd's process id.
    var pid: Int32? {
        (try? Self.shell(["/bin/pidof", "-s", "libvirtd"])).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    func stop() {
        if started { _ = try? Self.shell(["/bin/bash", Self.script, "stop"]) }
    }

    static func shell(_ arguments: [String]) throws -> String {
        let result = try ChildProcess.run(arguments[0], Array(arguments.dropFirst()))
        guard result.status == 0 else { throw BenchError("\(arguments) failed: \(result.standardError)") }
        return result.standardOutput
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

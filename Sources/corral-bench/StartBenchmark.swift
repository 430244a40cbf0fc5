import CorralClient
import CorralProtocol
import Foundation
import POSIXSupport

/// Time from the start call to its reply for a minimal guest, against bare QEMU and libvirtd; and
/// 20 guests started at once. The minimal guest has no balloon and no USB controller
/// (`model='none'`), so it has the devices the bare QEMU has: what is measured is the daemon.
enum StartBenchmark {
    static func xml(_ name: String) -> String {
        """
        <domain type='\(kvm ? "kvm" : "qemu")'>
          <name>\(name)</name>
          <memory unit='MiB'>128</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='q35'>hvm</type></os>
          <devices><memballoon model='none'/><controller type='usb' model='none'/></devices>
        </domain>
        """
    }

    /// Whether the daemon will use KVM (it probed it; the benchmark reads the capabilities).
    nonisolated(unsafe) static var kvm = false

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Starts and destroys one domain `runs` times; returns the start-call durations. With
    /// `between`, that runs after each destroy (the interleaved anchor).
    static func startTimes(uri: String, name: String, runs: Int, between: (() throws -> Void)? = nil) async throws -> [Double] {
        try await CorralConnection.withConnection(to: uri) { connection in
            let handle = try await connection.defineDomain(xml: xml(name))
            defer { Task { try? await CorralConnection.withConnection(to: uri) { try await $0.undefineDomain(handle) } } }
            var times: [Double] = []
            for _ in 0..<runs {
                let t0 = ContinuousClock.now
                _ = try await connection.call(Remote.DomainCreate.self, .init(dom: handle))
                times.append((ContinuousClock.now - t0).seconds)
                _ = try await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
                try between?()
            }
            return times
        }
    }

    /// The minimal command line: no sandbox, one monitor.
    static func minimalArguments(monitor socket: String) -> [String] {
        ["-machine", "pc-q35-7.2", "-accel", kvm ? "kvm" : "tcg", "-m", "128", "-nodefaults", "-no-user-config", "-display", "none", "-S",
         "-qmp", "unix:\(socket),server=on,wait=off"]
    }

    /// corrald's own command line for the guest (read from the running QEMU), with its run
    /// directory swapped for `directory`: what QEMU costs with the same sandbox and monitors.
    static func daemonArguments(daemon: BenchDaemon, name: String, directory: String) async throws -> (arguments: [String], monitor: String) {
        let uri = daemon.uri, guestDirectory = daemon.directory + "/run/domains/" + name
        return try await CorralConnection.withConnection(to: uri) { connection in
            let handle = try await connection.defineDomain(xml: xml(name))
            _ = try await connection.call(Remote.DomainCreate.self, .init(dom: handle))
            defer { Task { try? await CorralConnection.withConnection(to: uri) { connection in
                _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
                try await connection.undefineDomain(handle)
            } } }
            guard let pid = BenchDaemon.qemuProcesses(naming: guestDirectory).first,
                let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { throw BenchError("cannot read the command line of corrald's QEMU") }
            var arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.dropFirst().map { $0 }
            guard let monitorIndex = arguments.firstIndex(where: { $0.hasPrefix("socket,id=charmonitor,path=") }),
                let path = arguments[monitorIndex].split(separator: ",").first(where: { $0.hasPrefix("path=") })?.dropFirst(5)
            else { throw BenchError("corrald's QEMU has no monitor socket on its command line") }
            let runDirectory = (String(path) as NSString).deletingLastPathComponent
            arguments = arguments.map { $0.replacingOccurrences(of: runDirectory, with: directory) }
            return (arguments, directory + "/qmp.sock")
        }
    }

    /// Bare QEMU: launch with `arguments` until QMP on `monitor` is negotiated and `cont`
    /// answered.
    static func bareTime(arguments: [String], monitor socket: String) throws -> Double {
        unlink(socket)
        let t0 = ContinuousClock.now
        let qemu = try ChildProcess.spawn("/usr/bin/qemu-system-x86_64", arguments, standardError: .null)
        var fd: Int32 = -1
        while fd < 0 {
            fd = connectUnix(socket)
            if fd < 0 { usleep(1000) }
        }
        var reader = BlockingLineReader(fd: fd)
        _ = reader.line()  // greeting
        for command in ["{\"execute\":\"qmp_capabilities\"}", "{\"execute\":\"cont\"}"] {
            _ = (command + "\n").withCString { write(fd, $0, strlen($0)) }
            while let line = reader.line(), !line.contains("\"return\"") {}
        }
        let time = (ContinuousClock.now - t0).seconds
        close(fd)
        qemu.stop()
        unlink(socket)
        return time
    }

    static func connectUnix(_ path: String) -> Int32 { (try? UnixSocket.connect(path)) ?? -1 }


    static func peakResidentKiB(pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    static func run(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, runs: Int) async throws {
        let capabilities = try await CorralConnection.withConnection(to: daemon.uri) { try await $0.capabilities() }
        kvm = capabilities.contains("<domain type='kvm'/>")
        print("Guest start: minimal q35 guest, 128 MiB, no disk, \(kvm ? "KVM" : "TCG (KVM is not usable here)"); median of \(runs) starts")
        // Each daemon start is followed by one start of each anchor, so that the machine's
        // drift affects all three alike.
        let directory = NSTemporaryDirectory() + "corral-bench-bare-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let same = try await daemonArguments(daemon: daemon, name: "corral-bench-start-argv", directory: directory)
        let minimalMonitor = directory + "/minimal.sock"
        var bareMinimal: [Double] = [], bareSame: [Double] = []
        let ours = median(try await startTimes(uri: daemon.uri, name: "corral-bench-start", runs: runs) {
            bareMinimal.append(try bareTime(arguments: minimalArguments(monitor: minimalMonitor), monitor: minimalMonitor))
            bareSame.append(try bareTime(arguments: same.arguments, monitor: same.monitor))
        })
        let (minimal, sameArgv) = (median(bareMinimal), median(bareSame))
        var line = String(
            format: """
                  bare QEMU, minimal command line (launch → QMP negotiated → cont answered): %.1f ms
                  bare QEMU, corrald's command line (sandbox, all its monitors):             %.1f ms
                  corrald (DOMAIN_CREATE call → reply):                                      %.1f ms   ratio %.2fx to the same command line (goal ≤ 1.2x), %.2fx to the minimal one
                """, minimal * 1000, sameArgv * 1000, ours * 1000, ours / sameArgv, ours / minimal)
        if let libvirtd {
            do {
                let theirs = median(try await startTimes(uri: libvirtd.uri, name: "corral-bench-start", runs: runs))
                line += String(format: "\n  libvirtd (DOMAIN_CREATE call → reply):                                      %.1f ms   corrald is %.2fx faster (goal ≥ 2.5x)", theirs * 1000, theirs / ours)
            } catch {
                line += "\n  libvirtd could not start the guest: \(error)"
            }
        }
        print(line)

        // 20 guests at once.
        let count = 20
        let handles = try await CorralConnection.withConnection(to: daemon.uri) { connection in
            var handles: [DomainHandle] = []
            for i in 0..<count { handles.append(try await connection.defineDomain(xml: xml("corral-bench-many-\(i)"))) }
            return handles
        }
        let t0 = ContinuousClock.now
        let uri = daemon.uri
        try await withThrowingTaskGroup(of: Void.self) { group in
            for handle in handles {
                group.addTask {
                    try await CorralConnection.withConnection(to: uri) { _ = try await $0.call(Remote.DomainCreate.self, .init(dom: handle)) }
                }
            }
            try await group.waitForAll()
        }
        let total = (ContinuousClock.now - t0).seconds
        let peak = peakResidentKiB(pid: daemon.process.pid)
        try await CorralConnection.withConnection(to: daemon.uri) { connection in
            for handle in handles {
                try? await connection.destroyDomain(handle)
                try? await connection.undefineDomain(handle)
            }
        }
        print(String(format: "  %d guests started at once: %.2f s in all; corrald peak RSS %.1f MiB", count, total, Double(peak) / 1024))
    }
}

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

    /// Starts and destroys one domain `runs` times; returns the start-call durations.
    static func startTimes(uri: String, name: String, runs: Int) async throws -> [Double] {
        try await CorralConnection.withConnection(to: uri) { connection in
            let handle = try await connection.defineDomain(xml: xml(name))
            defer { Task { try? await CorralConnection.withConnection(to: uri) { try await $0.undefineDomain(handle) } } }
            var times: [Double] = []
            for _ in 0..<runs {
                let t0 = ContinuousClock.now
                _ = try await connection.call(Remote.DomainCreate.self, .init(dom: handle))
                times.append((ContinuousClock.now - t0).seconds)
                _ = try await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
            }
            return times
        }
    }

    /// Bare QEMU: launch until QMP is negotiated and `cont` answered.
    static func bareTimes(runs: Int) throws -> [Double] {
        var times: [Double] = []
        for run in 0..<runs {
            let socket = NSTemporaryDirectory() + "corral-bench-bare-\(getpid())-\(run).sock"
            unlink(socket)
            let t0 = ContinuousClock.now
            let qemu = try ChildProcess.spawn(
                "/usr/bin/qemu-system-x86_64",
                ["-machine", "pc-q35-7.2", "-accel", kvm ? "kvm" : "tcg", "-m", "128", "-nodefaults", "-no-user-config", "-display", "none", "-S",
                 "-qmp", "unix:\(socket),server=on,wait=off"],
                standardError: .null)
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
            times.append((ContinuousClock.now - t0).seconds)
            close(fd)
            qemu.stop()
            unlink(socket)
        }
        return times
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
        let bare = median(try bareTimes(runs: runs))
        let ours = median(try await startTimes(uri: daemon.uri, name: "corral-bench-start", runs: runs))
        var line = String(format: "  bare QEMU (launch → QMP negotiated → cont answered): %.1f ms\n  corrald (DOMAIN_CREATE call → reply):                %.1f ms   ratio to bare %.2fx (goal ≤ 1.2x)", bare * 1000, ours * 1000, ours / bare)
        if let libvirtd {
            do {
                let theirs = median(try await startTimes(uri: libvirtd.uri, name: "corral-bench-start", runs: runs))
                line += String(format: "\n  libvirtd (DOMAIN_CREATE call → reply):               %.1f ms   corrald is %.2fx faster (goal ≥ 2.5x)", theirs * 1000, theirs / ours)
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

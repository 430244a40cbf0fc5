import CorralClient
import CorralProtocol
import Foundation
import NIOCore
import POSIXSupport

/// Console throughput: the test guest floods a console (`timeout 10 yes`) and one client reads
/// it through the daemon's console stream, corrald against libvirtd, with the same client and
/// guest. Two floods: the default console (the serial port, libvirt's rule), whose emulated UART
/// takes one QEMU write per byte and so bounds both daemons alike; and the virtio console
/// (`console1`) with the guest's output processing off (`stty raw`) and `yes` piped through `cat`
/// (busybox's `yes` writes a line per call on a terminal; `cat` writes whole blocks), which hands
/// QEMU whole pages, so the daemon's stream path is what is measured.
enum ConsoleBenchmark {
    static let floodSeconds = 10

    /// A console to flood and the guest command that floods it.
    struct Flood {
        let title: String
        let device: String?
        let command: String
    }

    static let floods = [
        Flood(title: "serial console (default, UART-bound)", device: nil, command: "timeout \(floodSeconds) yes\r"),
        Flood(title: "virtio console, raw tty, `yes | cat` (daemon-bound)", device: "console1", command: "stty raw -echo; timeout \(floodSeconds) yes | cat\r"),
    ]

    static func xml(kernel: String, initrd: String) -> String {
        """
        <domain type='qemu'>
          <name>corral-bench-console</name>
          <memory unit='MiB'>128</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='q35'>hvm</type><kernel>\(kernel)</kernel><initrd>\(initrd)</initrd>
            <cmdline>console=ttyS0 quiet panic=-1</cmdline></os>
          <devices><serial type='pty'/><console type='pty'><target type='virtio'/></console><memballoon model='none'/></devices>
        </domain>
        """
    }

    /// Reads the console until `marker` arrives (or `seconds` pass); returns what came.
    static func read(_ stream: CorralStream, until marker: String, seconds: Double) async throws -> String {
        var text = ""
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !text.contains(marker), ContinuousClock.now < deadline {
            guard case .data(let bytes)? = try await stream.receive() else { break }
            text += String(decoding: bytes.readableBytesView, as: UTF8.self)
            if text.count > 1 << 20 { text = String(text.suffix(4096)) }
        }
        return text
    }

    /// What one flood gave: bytes per second the client received, and the daemon's CPU time
    /// (user and system) per MiB received.
    struct Figures {
        var bytesPerSecond: Double
        var daemonCPUMillisecondsPerMiB: Double
    }

    /// A process's CPU time so far (user + system), in milliseconds, from `/proc/PID/stat`.
    static func cpuMilliseconds(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
        let fields = text[text.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) * 1000 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Runs `body` on the bench guest defined on `uri`; the guest is destroyed and undefined
    /// afterwards, before this returns, whatever `body` did.
    static func withGuest<T: Sendable>(
        uri: String, kernel: String, initrd: String, _ body: @Sendable (CorralConnection, DomainHandle) async throws -> T
    ) async throws -> T {
        try await CorralConnection.withConnection(to: uri) { connection in
            let handle = try await connection.defineDomain(xml: xml(kernel: kernel, initrd: initrd))
            let outcome: Result<T, any Error>
            do {
                outcome = .success(try await body(connection, handle))
            } catch {
                outcome = .failure(error)
            }
            _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
            try? await connection.undefineDomain(handle)
            return try outcome.get()
        }
    }

    /// The flood's figures, with `pid` the daemon serving `uri`.
    static func measure(uri: String, pid: Int32?, kernel: String, initrd: String, flood: Flood) async throws -> Figures {
        try await withGuest(uri: uri, kernel: kernel, initrd: initrd) { connection, handle in
            _ = try await connection.call(Remote.DomainCreateWithFlags.self, .init(dom: handle, flags: 1))  // paused
            let stream = try await connection.openConsole(handle, device: flood.device)
            _ = try await connection.call(Remote.DomainResume.self, .init(dom: handle))
            _ = try await read(stream, until: "CORRAL-GUEST-BOOTED", seconds: 120)
            try await stream.send(ByteBuffer(string: "\r"))
            _ = try await read(stream, until: "# ", seconds: 30)
            try await stream.send(ByteBuffer(string: flood.command))
            var bytes = 0
            let cpuBefore = pid.map(cpuMilliseconds) ?? 0
            let start = ContinuousClock.now
            let deadline = start + .seconds(floodSeconds)
            while ContinuousClock.now < deadline {
                guard case .data(let chunk)? = try await stream.receive() else { break }
                bytes += chunk.readableBytes
            }
            let elapsed = (ContinuousClock.now - start).seconds
            let cpu = (pid.map(cpuMilliseconds) ?? 0) - cpuBefore
            await stream.abort()
            return Figures(bytesPerSecond: Double(bytes) / elapsed, daemonCPUMillisecondsPerMiB: cpu / max(Double(bytes) / 1_048_576, 1e-9))
        }
    }

    static func run(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, directory: String) async throws {
        print("Console throughput: the guest runs `timeout \(floodSeconds) yes` on a console; one client reads it (TCG)")
        // The test guest, copied where libvirtd's QEMU may read it too.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let guestDirectory = directory + "/corral-bench-console-\(getpid())"
        try FileManager.default.createDirectory(atPath: guestDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: guestDirectory) }
        for file in ["vmlinuz", "initramfs.gz"] {
            let source = root.appendingPathComponent(".test-guest/\(file)").path
            guard FileManager.default.fileExists(atPath: source) else {
                print("  the test guest is missing: run Scripts/build-test-guest.sh")
                return
            }
            try? FileManager.default.removeItem(atPath: guestDirectory + "/" + file)
            try FileManager.default.copyItem(atPath: source, toPath: guestDirectory + "/" + file)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: guestDirectory + "/" + file)
        }
        let kernel = guestDirectory + "/vmlinuz", initrd = guestDirectory + "/initramfs.gz"
        for flood in floods {
            print("  \(flood.title):")
            let direct = try await DirectConsoleReader.measure(uri: daemon.uri, kernel: kernel, initrd: initrd, flood: flood)
            print(String(format: "    direct pty reader (no daemon; the ceiling): %9.1f KiB/s", direct / 1024))
            let ours = try await measure(uri: daemon.uri, pid: daemon.process.pid, kernel: kernel, initrd: initrd, flood: flood)
            print(String(format: "    corrald:  %9.1f KiB/s, daemon CPU %6.1f ms per MiB; %.2fx the direct reader", ours.bytesPerSecond / 1024, ours.daemonCPUMillisecondsPerMiB, ours.bytesPerSecond / direct))
            guard let libvirtd else { continue }
            do {
                let theirs = try await measure(uri: libvirtd.uri, pid: libvirtd.pid, kernel: kernel, initrd: initrd, flood: flood)
                print(String(format: "    libvirtd: %9.1f KiB/s, daemon CPU %6.1f ms per MiB", theirs.bytesPerSecond / 1024, theirs.daemonCPUMillisecondsPerMiB))
                print(String(format: "    ratio corrald/libvirtd: throughput %.2fx (goal ≥ 2x); CPU per MiB %.2fx (lower is better)",
                             ours.bytesPerSecond / theirs.bytesPerSecond, ours.daemonCPUMillisecondsPerMiB / theirs.daemonCPUMillisecondsPerMiB))
            } catch {
                print("    libvirtd could not run the guest: \(error)")
            }
        }
    }
}

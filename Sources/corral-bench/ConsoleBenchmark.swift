import CorralClient
import CorralProtocol
import Foundation
import NIOCore

/// Console throughput: the test guest floods its virtio console (`timeout 10 yes` on hvc0; a
/// serial port's emulated UART would be the bottleneck, not the daemon) and one client reads it
/// through the daemon's console stream, corrald against libvirtd, with the same client and guest.
enum ConsoleBenchmark {
    static let floodSeconds = 10

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

    /// Bytes per second the client received during the flood.
    static func measure(uri: String, kernel: String, initrd: String) async throws -> Double {
        try await CorralConnection.withConnection(to: uri) { connection in
            let handle = try await connection.defineDomain(xml: xml(kernel: kernel, initrd: initrd))
            defer {
                Task {
                    try? await CorralConnection.withConnection(to: uri) { connection in
                        _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
                        try await connection.undefineDomain(handle)
                    }
                }
            }
            _ = try await connection.call(Remote.DomainCreateWithFlags.self, .init(dom: handle, flags: 1))  // paused
            let stream = try await connection.openConsole(handle)
            _ = try await connection.call(Remote.DomainResume.self, .init(dom: handle))
            _ = try await read(stream, until: "CORRAL-GUEST-BOOTED", seconds: 120)
            try await stream.send(ByteBuffer(string: "\r"))
            _ = try await read(stream, until: "# ", seconds: 30)
            try await stream.send(ByteBuffer(string: "timeout \(floodSeconds) yes\r"))
            var bytes = 0
            let start = ContinuousClock.now
            let deadline = start + .seconds(floodSeconds)
            while ContinuousClock.now < deadline {
                guard case .data(let chunk)? = try await stream.receive() else { break }
                bytes += chunk.readableBytes
            }
            let elapsed = (ContinuousClock.now - start).seconds
            await stream.abort()
            _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
            return Double(bytes) / elapsed
        }
    }

    static func run(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, directory: String) async throws {
        print("Console throughput: the guest runs `timeout \(floodSeconds) yes` on its virtio console; one client reads it (TCG)")
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
        let ours = try await measure(uri: daemon.uri, kernel: kernel, initrd: initrd)
        print(String(format: "  corrald:  %8.1f KiB/s", ours / 1024))
        guard let libvirtd else { return }
        do {
            let theirs = try await measure(uri: libvirtd.uri, kernel: kernel, initrd: initrd)
            print(String(format: "  libvirtd: %8.1f KiB/s", theirs / 1024))
            print(String(format: "  ratio corrald/libvirtd: %.2fx (goal ≥ 2x)", ours / theirs))
        } catch {
            print("  libvirtd could not run the guest: \(error)")
        }
    }
}

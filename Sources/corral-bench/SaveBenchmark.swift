import CorralClient
import CorralJSON
import CorralProtocol
import Foundation
import POSIXSupport
import QMP

/// Save and restore of a 512 MiB guest that has filled most of its memory (380 MB of written
/// pages in a tmpfs; zero pages cost QEMU nothing, these cost it all): `virsh save`/`restore`
/// through corrald and libvirtd, against the same QEMU saving to and loading from a file
/// through a descriptor with no daemon at all (QEMU's own time, the anchor). Median of three
/// cycles on the same filled guest.
enum SaveBenchmark {
    static let memoryMiB = 512
    static let fillBytes = 380_000_000
    static let cycles = 3
    static let agentName = "org.qemu.guest_agent.0"
    /// The guest fills a tmpfs of its own with `yes` output, then says so on its serial port.
    static let fillCommand =
        "mkdir -p /mnt/fill && mount -t tmpfs -o size=420m tmpfs /mnt/fill && yes | head -c \(fillBytes) > /mnt/fill/x; echo CORRAL-FILLED > /dev/ttyS0"

    static func xml(name: String, kernel: String, initrd: String, serial: String) -> String {
        """
        <domain type='qemu'>
          <name>\(name)</name>
          <memory unit='MiB'>\(memoryMiB)</memory>
          <vcpu>1</vcpu>
          <features><acpi/></features>
          <os><type arch='x86_64' machine='q35'>hvm</type><kernel>\(kernel)</kernel><initrd>\(initrd)</initrd>
            <cmdline>console=ttyS0 quiet panic=-1</cmdline></os>
          <devices>
            <serial type='file'><source path='\(serial)'/></serial>
            <channel type='unix'><target type='virtio' name='\(agentName)'/></channel>
            <memballoon model='none'/>
          </devices>
        </domain>
        """
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Waits until `text` is in the file at `path`.
    static func waitFor(_ text: String, in path: String, seconds: Double) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: path), String(decoding: data, as: UTF8.self).contains(text) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("timed out waiting for '\(text)' in \(path)")
    }

    /// Save and restore times through a daemon: the guest defined, started, filled, then saved
    /// and restored `cycles` times.
    static func throughDaemon(
        uri: String, name: String, kernel: String, initrd: String, directory: String, images: String
    ) async throws -> (save: Double, restore: Double, imageBytes: Int) {
        let serial = directory + "/\(name).serial"
        return try await CorralConnection.withConnection(to: uri) { connection in
            let handle = try await connection.defineDomain(xml: xml(name: name, kernel: kernel, initrd: initrd, serial: serial))
            do {
                try await startAndFill(handle, connection: connection, serial: serial)
                var saves: [Double] = [], restores: [Double] = []
                var imageBytes = 0
                for cycle in 0..<cycles {
                    // A new file each cycle (the last one's removed outside the timing): a save
                    // over an old image would time the file system freeing it.
                    let image = images + "/\(name)-\(cycle).img"
                    defer { unlink(image) }
                    let t0 = ContinuousClock.now
                    _ = try await connection.call(Remote.DomainSave.self, .init(dom: handle, to: image))
                    saves.append((ContinuousClock.now - t0).seconds)
                    imageBytes = (try? FileManager.default.attributesOfItem(atPath: image)[.size] as? Int) ?? 0
                    let t1 = ContinuousClock.now
                    _ = try await connection.call(Remote.DomainRestore.self, .init(from: image))
                    restores.append((ContinuousClock.now - t1).seconds)
                }
                _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
                try? await connection.undefineDomain(handle)
                return (median(saves), median(restores), imageBytes)
            } catch {
                _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
                try? await connection.undefineDomain(handle)
                throw error
            }
        }
    }

    /// The guest-agent command that fills the guest's memory.
    static var fill: JSONValue {
        .object([
            ("execute", .string("guest-exec")),
            ("arguments", .object([("path", .string("/bin/sh")), ("arg", .array([.string("-c"), .string(fillCommand)]))])),
        ])
    }

    /// Starts a defined guest through a daemon and waits until it has filled its memory.
    static func startAndFill(_ handle: RemoteDomain, connection: CorralConnection, serial: String) async throws {
        _ = try await connection.call(Remote.DomainCreate.self, .init(dom: handle))
        try await waitFor("agent=/dev/vport", in: serial, seconds: 120)
        var pinged = false
        for _ in 0..<100 where !pinged {
            pinged = (try? await connection.call(Qemu.DomainAgentCommand.self, .init(dom: handle, cmd: #"{"execute":"guest-ping"}"#, timeout: 5, flags: 0))) != nil
            if !pinged { try await Task.sleep(for: .milliseconds(200)) }
        }
        _ = try await connection.call(Qemu.DomainAgentCommand.self, .init(dom: handle, cmd: fill.description, timeout: 10, flags: 0))
        try await waitFor("CORRAL-FILLED", in: serial, seconds: 600)
    }

    /// Runs a bare QEMU's guest (started paused) and waits until it has filled its memory.
    static func runAndFill(_ qmp: QMPClient, serial: String, agentSocket: String) async throws {
        _ = try await qmp.execute("cont")
        try await waitFor("agent=/dev/vport", in: serial, seconds: 120)
        var ran = false
        for _ in 0..<100 where !ran {
            ran = (try? agent(fill, socket: agentSocket)) != nil
            if !ran { try await Task.sleep(for: .milliseconds(200)) }
        }
        try await waitFor("CORRAL-FILLED", in: serial, seconds: 600)
    }

    /// A working directory with the test guest's kernel and initramfs (readable by libvirtd's
    /// QEMU), and a directory for images; `nil` (said on the output) when the guest is missing.
    /// The caller removes both.
    static func workspace(_ tag: String, directory: String, images: String) throws -> (work: String, kernel: String, initrd: String, images: String)? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let work = directory + "/corral-bench-\(tag)-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for file in ["vmlinuz", "initramfs.gz"] {
            let source = root.appendingPathComponent(".test-guest/\(file)").path
            guard FileManager.default.fileExists(atPath: source) else {
                print("  the test guest is missing: run Scripts/build-test-guest.sh")
                try? FileManager.default.removeItem(atPath: work)
                return nil
            }
            try FileManager.default.copyItem(atPath: source, toPath: work + "/" + file)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: work + "/" + file)
        }
        let imageDirectory = images + "/corral-bench-\(tag)-images-\(getpid())"
        try FileManager.default.createDirectory(atPath: imageDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return (work, work + "/vmlinuz", work + "/initramfs.gz", imageDirectory)
    }

    /// The same guest on a QEMU the benchmark starts itself; returns its process and monitor.
    static func bareQEMU(kernel: String, initrd: String, directory: String, serial: String, incoming: Bool, extra: [String] = []) async throws -> (ChildProcess, QMPClient) {
        let qmp = directory + "/bare-qmp.sock", agent = directory + "/bare-agent.sock"
        unlink(qmp)
        unlink(agent)
        let qemu = try ChildProcess.spawn(
            "/usr/bin/qemu-system-x86_64",
            ["-machine", "pc-q35-7.2", "-accel", "tcg", "-m", "\(memoryMiB)", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
             "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1", "-serial", "file:" + serial,
             "-chardev", "socket,id=agent,path=\(agent),server=on,wait=off", "-device", "virtio-serial-pci,id=virtio-serial0",
             "-device", "virtserialport,chardev=agent,name=\(agentName)", "-qmp", "unix:\(qmp),server=on,wait=off", "-S"]
                + (incoming ? ["-incoming", "defer"] : []) + extra,
            standardError: .null)
        var client: QMPClient?
        for _ in 0..<3000 where client == nil {
            client = try? await QMPClient.connect(unixSocket: qmp)
            if client == nil { try await Task.sleep(for: .milliseconds(2)) }
        }
        guard let client else {
            qemu.stop()
            throw BenchError("bare QEMU did not open its monitor")
        }
        return (qemu, client)
    }

    /// Sends one guest-agent command on the bare QEMU's agent socket and reads its reply.
    static func agent(_ command: JSONValue, socket: String) throws {
        let fd = try UnixSocket.connect(socket)
        defer { close(fd) }
        UnixSocket.writeAll(fd, Array((command.description + "\n").utf8))
        var reader = BlockingLineReader(fd: fd)
        _ = reader.line()
    }

    /// QEMU's own times: the guest filled on a bare QEMU, then saved to a file through a
    /// descriptor (`stop`, `getfd`, `migrate fd:` until completed) and loaded by a fresh QEMU
    /// waiting for it (spawn, `getfd`, `migrate-incoming`, `cont`).
    static func bare(kernel: String, initrd: String, directory: String, images: String) async throws -> (save: Double, restore: Double) {
        let serial = directory + "/bare.serial"
        unlink(serial)
        var (qemu, qmp) = try await bareQEMU(kernel: kernel, initrd: initrd, directory: directory, serial: serial, incoming: false)
        defer { qemu.stop() }
        try await runAndFill(qmp, serial: serial, agentSocket: directory + "/bare-agent.sock")
        var saves: [Double] = [], restores: [Double] = []
        for cycle in 0..<cycles {
            let image = images + "/bare-\(cycle).img"
            defer { unlink(image) }
            let t0 = ContinuousClock.now
            let fd = open(image, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            _ = try await qmp.execute("stop")
            _ = try await qmp.execute("migrate-set-parameters", arguments: .object([("max-bandwidth", .integer((Int64.max / (1 << 20)) * (1 << 20)))]))
            _ = try await qmp.execute("getfd", arguments: .object([("fdname", .string("migrate"))]), passing: fd)
            close(fd)
            _ = try await qmp.execute("migrate", arguments: .object([("uri", .string("fd:migrate"))]))
            try await completed(qmp)
            saves.append((ContinuousClock.now - t0).seconds)
            await qmp.close()
            qemu.stop()
            let t1 = ContinuousClock.now
            (qemu, qmp) = try await bareQEMU(kernel: kernel, initrd: initrd, directory: directory, serial: serial, incoming: true)
            let input = open(image, O_RDONLY | O_CLOEXEC)
            _ = try await qmp.execute("getfd", arguments: .object([("fdname", .string("migrate"))]), passing: input)
            close(input)
            _ = try await qmp.execute("migrate-incoming", arguments: .object([("uri", .string("fd:migrate"))]))
            try await completed(qmp)
            _ = try await qmp.execute("cont")
            restores.append((ContinuousClock.now - t1).seconds)
        }
        await qmp.close()
        return (median(saves), median(restores))
    }

    /// Polls `query-migrate` as the daemon does (every 10 ms) until QEMU says completed.
    static func completed(_ qmp: QMPClient) async throws {
        while true {
            let status = try await qmp.execute("query-migrate")["status"]?.stringValue
            if status == "completed" { return }
            if status == "failed" || status == "cancelled" { throw BenchError("QEMU's migration \(status ?? "")") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// - Parameter images: where the save images go (tmpfs by default, so that the disk's
    ///   write-back does not decide the figures).
    static func run(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, directory: String, images: String) async throws {
        print("Save and restore: a \(memoryMiB) MiB guest with \(fillBytes / 1_000_000) MB of its memory written (TCG), median of \(cycles) cycles, images in \(images)")
        guard let (work, kernel, initrd, imageDirectory) = try workspace("save", directory: directory, images: images) else { return }
        defer {
            try? FileManager.default.removeItem(atPath: work)
            try? FileManager.default.removeItem(atPath: imageDirectory)
        }
        let qemu = try await bare(kernel: kernel, initrd: initrd, directory: work, images: imageDirectory)
        print(String(format: "  QEMU alone (descriptor, no daemon): save %6.3f s, restore %6.3f s", qemu.save, qemu.restore))
        let ours = try await throughDaemon(uri: daemon.uri, name: "corral-bench-save", kernel: kernel, initrd: initrd, directory: work, images: imageDirectory)
        print(String(format: "  corrald:                            save %6.3f s, restore %6.3f s (image %d MB)", ours.save, ours.restore, ours.imageBytes / 1_000_000))
        print(String(format: "  ratio corrald/QEMU: save %.2fx, restore %.2fx (goal ≤ 1.1x)", ours.save / qemu.save, ours.restore / qemu.restore))
        guard let libvirtd else { return }
        do {
            let theirs = try await throughDaemon(
                uri: libvirtd.uri, name: "corral-bench-save", kernel: kernel, initrd: initrd, directory: work, images: imageDirectory)
            print(String(format: "  libvirtd:                           save %6.3f s, restore %6.3f s", theirs.save, theirs.restore))
            print(String(format: "  corrald is faster than libvirtd by: save %.2fx, restore %.2fx (goal > 1x)", theirs.save / ours.save, theirs.restore / ours.restore))
        } catch {
            print("  libvirtd could not run the guest: \(error)")
        }
    }
}

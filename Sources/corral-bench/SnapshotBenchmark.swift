import CorralClient
import CorralJSON
import CorralProtocol
import Foundation
import POSIXSupport
import QMP

/// Internal snapshots of a running guest with its memory (the save benchmark's 512 MiB guest,
/// 380 MB of it written, and a qcow2 disk in the image directory): taking one
/// (`snapshot-create-as`) and reverting to it (`snapshot-revert`: a new QEMU loads it) through
/// corrald and libvirtd, against the same QEMU doing the same with no daemon (`snapshot-save`
/// on its monitor; a QEMU started with `-loadvm` until it runs), measured in the same run.
/// Median of three cycles; each snapshot is deleted outside the timing.
enum SnapshotBenchmark {
    static let cycles = 3

    static func xml(name: String, kernel: String, initrd: String, serial: String, image: String) -> String {
        SaveBenchmark.xml(name: name, kernel: kernel, initrd: initrd, serial: serial).replacingOccurrences(
            of: "<memballoon model='none'/>",
            with: "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='\(image)'/><target dev='vda' bus='virtio'/></disk><memballoon model='none'/>")
    }

    static func makeImage(_ path: String) throws {
        unlink(path)
        let output = try ChildProcess.run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", path, "64M"], timeout: 60)
        guard output.status == 0 else { throw BenchError("qemu-img create failed: \(output.standardError)") }
    }

    /// Snapshot and revert times through a daemon.
    static func throughDaemon(uri: String, name: String, kernel: String, initrd: String, directory: String, images: String) async throws -> (take: Double, revert: Double) {
        let serial = directory + "/\(name).serial", image = images + "/\(name).qcow2"
        try makeImage(image)
        defer { unlink(image) }
        return try await CorralConnection.withConnection(to: uri) { connection in
            let handle = try await connection.defineDomain(xml: xml(name: name, kernel: kernel, initrd: initrd, serial: serial, image: image))
            defer { unlink(serial) }
            do {
                _ = try await connection.call(Remote.DomainCreate.self, .init(dom: handle))
                try await SaveBenchmark.waitFor("agent=/dev/vport", in: serial, seconds: 120)
                var pinged = false
                for _ in 0..<100 where !pinged {
                    pinged = (try? await connection.call(Qemu.DomainAgentCommand.self, .init(dom: handle, cmd: #"{"execute":"guest-ping"}"#, timeout: 5, flags: 0))) != nil
                    if !pinged { try await Task.sleep(for: .milliseconds(200)) }
                }
                _ = try await connection.call(Qemu.DomainAgentCommand.self, .init(dom: handle, cmd: fill.description, timeout: 10, flags: 0))
                try await SaveBenchmark.waitFor("CORRAL-FILLED", in: serial, seconds: 600)
                var takes: [Double] = [], reverts: [Double] = []
                for cycle in 0..<cycles {
                    let snapshot = RemoteDomainSnapshot(name: "bench-\(cycle)", dom: handle)
                    let t0 = ContinuousClock.now
                    _ = try await connection.call(
                        Remote.DomainSnapshotCreateXML.self, .init(dom: handle, xmlDesc: "<domainsnapshot><name>\(snapshot.name)</name></domainsnapshot>", flags: 0))
                    takes.append((ContinuousClock.now - t0).seconds)
                    let t1 = ContinuousClock.now
                    _ = try await connection.call(Remote.DomainRevertToSnapshot.self, .init(snap: snapshot, flags: 0))
                    reverts.append((ContinuousClock.now - t1).seconds)
                    _ = try await connection.call(Remote.DomainSnapshotDelete.self, .init(snap: snapshot, flags: 0))
                }
                _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
                try? await connection.undefineDomain(handle)
                return (SaveBenchmark.median(takes), SaveBenchmark.median(reverts))
            } catch {
                _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
                try? await connection.undefineDomain(handle)
                throw error
            }
        }
    }

    static var fill: JSONValue {
        .object([
            ("execute", .string("guest-exec")),
            ("arguments", .object([("path", .string("/bin/sh")), ("arg", .array([.string("-c"), .string(SaveBenchmark.fillCommand)]))])),
        ])
    }

    /// The guest on a QEMU the benchmark starts itself, with the disk (and `-loadvm` when given).
    static func bareQEMU(kernel: String, initrd: String, directory: String, serial: String, image: String, load: String?) async throws -> (ChildProcess, QMPClient) {
        let qmp = directory + "/snap-qmp.sock", agent = directory + "/snap-agent.sock"
        unlink(qmp)
        unlink(agent)
        let qemu = try ChildProcess.spawn(
            "/usr/bin/qemu-system-x86_64",
            ["-machine", "pc-q35-7.2", "-accel", "tcg", "-m", "\(SaveBenchmark.memoryMiB)", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
             "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1", "-serial", "file:" + serial,
             "-chardev", "socket,id=agent,path=\(agent),server=on,wait=off", "-device", "virtio-serial-pci,id=virtio-serial0",
             "-device", "virtserialport,chardev=agent,name=\(SaveBenchmark.agentName)",
             "-blockdev", #"{"driver":"file","filename":"\#(image)","node-name":"storage"}"#, "-blockdev", #"{"driver":"qcow2","file":"storage","node-name":"disk"}"#,
             "-device", "virtio-blk-pci,drive=disk", "-qmp", "unix:\(qmp),server=on,wait=off", "-S"]
                + (load.map { ["-loadvm", $0] } ?? []),
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

    /// QEMU's own times: `snapshot-save` of the running guest (vCPUs stopped around it, as the
    /// daemons do), and a new QEMU started with `-loadvm` until it runs.
    static func bare(kernel: String, initrd: String, directory: String, images: String) async throws -> (take: Double, revert: Double) {
        let serial = directory + "/snap-bare.serial", image = images + "/snap-bare.qcow2"
        unlink(serial)
        try makeImage(image)
        defer { unlink(image) }
        var (qemu, qmp) = try await bareQEMU(kernel: kernel, initrd: initrd, directory: directory, serial: serial, image: image, load: nil)
        defer { qemu.stop() }
        _ = try await qmp.execute("cont")
        try await SaveBenchmark.waitFor("agent=/dev/vport", in: serial, seconds: 120)
        var ran = false
        for _ in 0..<100 where !ran {
            ran = (try? SaveBenchmark.agent(fill, socket: directory + "/snap-agent.sock")) != nil
            if !ran { try await Task.sleep(for: .milliseconds(200)) }
        }
        try await SaveBenchmark.waitFor("CORRAL-FILLED", in: serial, seconds: 600)
        var takes: [Double] = [], reverts: [Double] = []
        for cycle in 0..<cycles {
            let name = "bench-\(cycle)"
            let t0 = ContinuousClock.now
            _ = try await qmp.execute("stop")
            _ = try await qmp.execute("snapshot-save", arguments: .object([
                ("job-id", .string("save")), ("tag", .string(name)), ("vmstate", .string("disk")), ("devices", .array([.string("disk")])),
            ]))
            try await concluded("save", qmp)
            _ = try await qmp.execute("cont")
            takes.append((ContinuousClock.now - t0).seconds)
            let t1 = ContinuousClock.now
            await qmp.close()
            qemu.stop()
            (qemu, qmp) = try await bareQEMU(kernel: kernel, initrd: initrd, directory: directory, serial: serial, image: image, load: name)
            _ = try await qmp.execute("cont")
            reverts.append((ContinuousClock.now - t1).seconds)
            _ = try await qmp.execute("snapshot-delete", arguments: .object([("job-id", .string("delete")), ("tag", .string(name)), ("devices", .array([.string("disk")]))]))
            try await concluded("delete", qmp)
        }
        await qmp.close()
        return (SaveBenchmark.median(takes), SaveBenchmark.median(reverts))
    }

    /// Waits for QEMU's job `id` to conclude and dismisses it.
    static func concluded(_ id: String, _ qmp: QMPClient) async throws {
        while true {
            let job = try await qmp.execute("query-jobs").arrayValue?.first { $0["id"]?.stringValue == id }
            if job?["status"]?.stringValue == "concluded" {
                _ = try await qmp.execute("job-dismiss", arguments: .object([("id", .string(id))]))
                if let error = job?["error"]?.stringValue { throw BenchError("QEMU's \(id) job failed: \(error)") }
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    static func run(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, directory: String, images: String) async throws {
        print("Snapshots: a \(SaveBenchmark.memoryMiB) MiB guest with \(SaveBenchmark.fillBytes / 1_000_000) MB of its memory written (TCG), internal snapshot with memory and revert, qcow2 in \(images), median of \(cycles) cycles")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let work = directory + "/corral-bench-snapshot-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: work) }
        for file in ["vmlinuz", "initramfs.gz"] {
            let source = root.appendingPathComponent(".test-guest/\(file)").path
            guard FileManager.default.fileExists(atPath: source) else {
                print("  the test guest is missing: run Scripts/build-test-guest.sh")
                return
            }
            try FileManager.default.copyItem(atPath: source, toPath: work + "/" + file)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: work + "/" + file)
        }
        let kernel = work + "/vmlinuz", initrd = work + "/initramfs.gz"
        let imageDirectory = images + "/corral-bench-snapshot-images-\(getpid())"
        try FileManager.default.createDirectory(atPath: imageDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: imageDirectory) }
        let qemu = try await bare(kernel: kernel, initrd: initrd, directory: work, images: imageDirectory)
        print(String(format: "  QEMU alone (snapshot-save; -loadvm): snapshot %6.3f s, revert %6.3f s", qemu.take, qemu.revert))
        let ours = try await throughDaemon(uri: daemon.uri, name: "corral-bench-snapshot", kernel: kernel, initrd: initrd, directory: work, images: imageDirectory)
        print(String(format: "  corrald:                             snapshot %6.3f s, revert %6.3f s", ours.take, ours.revert))
        print(String(format: "  ratio corrald/QEMU: snapshot %.2fx, revert %.2fx", ours.take / qemu.take, ours.revert / qemu.revert))
        guard let libvirtd else { return }
        do {
            let theirs = try await throughDaemon(
                uri: libvirtd.uri, name: "corral-bench-snapshot", kernel: kernel, initrd: initrd, directory: work, images: imageDirectory)
            print(String(format: "  libvirtd:                            snapshot %6.3f s, revert %6.3f s", theirs.take, theirs.revert))
            print(String(format: "  corrald is faster than libvirtd by: snapshot %.2fx, revert %.2fx", theirs.take / ours.take, theirs.revert / ours.revert))
        } catch {
            print("  libvirtd could not run the guest: \(error)")
        }
    }
}

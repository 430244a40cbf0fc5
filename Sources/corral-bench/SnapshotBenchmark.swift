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
/// Median of five cycles; each snapshot is deleted outside the timing.
enum SnapshotBenchmark {
    static let cycles = 5

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
                try await SaveBenchmark.startAndFill(handle, connection: connection, serial: serial)
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

    /// The guest on a bare QEMU, with the disk (and `-loadvm` when given).
    static func bareQEMU(kernel: String, initrd: String, directory: String, serial: String, image: String, load: String?) async throws -> (ChildProcess, QMPClient) {
        try await SaveBenchmark.bareQEMU(
            kernel: kernel, initrd: initrd, directory: directory, serial: serial, incoming: false,
            extra: ["-blockdev", #"{"driver":"file","filename":"\#(image)","node-name":"storage"}"#, "-blockdev", #"{"driver":"qcow2","file":"storage","node-name":"disk"}"#,
                    "-device", "virtio-blk-pci,drive=disk"] + (load.map { ["-loadvm", $0] } ?? []))
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
        try await SaveBenchmark.runAndFill(qmp, serial: serial, agentSocket: directory + "/bare-agent.sock")
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
        guard let (work, kernel, initrd, imageDirectory) = try SaveBenchmark.workspace("snapshot", directory: directory, images: images) else { return }
        defer {
            try? FileManager.default.removeItem(atPath: work)
            try? FileManager.default.removeItem(atPath: imageDirectory)
        }
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

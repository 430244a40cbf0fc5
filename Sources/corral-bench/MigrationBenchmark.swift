import CorralClient
import CorralJSON
import CorralProtocol
import Foundation
import POSIXSupport
import QMP

/// Live migration of a 512 MiB guest that keeps writing to its memory (380 MB filled, then 16 MB
/// rewritten over and over), on this host over TCP: QEMU to QEMU with no daemon (the anchor),
/// corrald to corrald, and corrald with libvirtd both ways — client-managed, each call timed from
/// the client. "Daemon share" is a migration's call time minus the bare QEMU migration's.
enum MigrationBenchmark {
    /// The fill, then a writer that dirties 16 MB of pages for ever.
    static let writer = SaveBenchmark.fillCommand + "; (while true; do yes | head -c 16000000 > /mnt/fill/y; done) > /dev/null 2>&1 &"

    static var fillAndWrite: JSONValue {
        .object([
            ("execute", .string("guest-exec")),
            ("arguments", .object([("path", .string("/bin/sh")), ("arg", .array([.string("-c"), .string(writer)]))])),
        ])
    }

    struct Figures {
        var seconds: Double
        var downtimeMilliseconds: UInt64
        /// For the bare migration: from the destination listening to the end.
        var withoutDestinationStart: Double = 0
    }

    /// QEMU to QEMU: a filled, writing guest on one bare QEMU sent to another waiting on a port.
    static func bare(kernel: String, initrd: String, directory: String) async throws -> Figures {
        let sourceDirectory = directory + "/bare-src", destinationDirectory = directory + "/bare-dst"
        for path in [sourceDirectory, destinationDirectory] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        let serial = directory + "/bare.serial"
        let (source, sourceQMP) = try await SaveBenchmark.bareQEMU(kernel: kernel, initrd: initrd, directory: sourceDirectory, serial: serial, incoming: false)
        defer { source.stop() }
        _ = try await sourceQMP.execute("cont")
        try await SaveBenchmark.waitFor("agent=/dev/vport", in: serial, seconds: 120)
        var ran = false
        for _ in 0..<100 where !ran {
            ran = (try? SaveBenchmark.agent(fillAndWrite, socket: sourceDirectory + "/bare-agent.sock")) != nil
            if !ran { try await Task.sleep(for: .milliseconds(200)) }
        }
        try await SaveBenchmark.waitFor("CORRAL-FILLED", in: serial, seconds: 600)
        // A migration starts the destination's QEMU: the clock runs from its spawn, as it does
        // for a daemon's Prepare (the figure without it is printed too).
        let t0 = ContinuousClock.now
        let (destination, destinationQMP) = try await SaveBenchmark.bareQEMU(
            kernel: kernel, initrd: initrd, directory: destinationDirectory, serial: directory + "/bare-dst.serial", incoming: true)
        defer { destination.stop() }
        let port = 49300 + Int(getpid() % 100)
        _ = try await destinationQMP.execute("migrate-incoming", arguments: .object([("uri", .string("tcp:127.0.0.1:\(port)"))]))
        let listening = ContinuousClock.now
        _ = try await sourceQMP.execute("migrate-set-parameters", arguments: .object([("max-bandwidth", .integer((Int64.max / (1 << 20)) * (1 << 20)))]))
        _ = try await sourceQMP.execute("migrate", arguments: .object([("uri", .string("tcp:127.0.0.1:\(port)"))]))
        try await SaveBenchmark.completed(sourceQMP)
        try await SaveBenchmark.completed(destinationQMP)
        _ = try await destinationQMP.execute("cont")
        let end = ContinuousClock.now
        let downtime = try await sourceQMP.execute("query-migrate")["downtime"]?.intValue ?? 0
        await sourceQMP.close()
        await destinationQMP.close()
        return Figures(seconds: (end - t0).seconds, downtimeMilliseconds: UInt64(max(0, downtime)), withoutDestinationStart: (end - listening).seconds)
    }

    /// One client-managed migration of `name` from `source` to `destination`, timed; its
    /// downtime from the source's completed job.
    static func migrate(_ name: String, from source: String, to destination: String) async throws -> Figures {
        try await CorralConnection.withConnection(to: source) { from in
            try await CorralConnection.withConnection(to: destination) { to in
                let handle = try await from.lookupDomain(name)
                let flags: UInt32 = 1 | 8  // LIVE | PERSIST_DEST: the source keeps its definition and job statistics
                let t0 = ContinuousClock.now
                _ = try await from.migrate(handle, to: to, parameters: [], flags: flags)
                let seconds = (ContinuousClock.now - t0).seconds
                var downtime: UInt64 = 0
                if let stats = try? await from.call(Remote.DomainGetJobStats.self, .init(dom: handle, flags: 1)) {
                    for parameter in stats.params where parameter.field == "downtime" {
                        if case .unsignedLongLong(let value) = parameter.value { downtime = value }
                    }
                }
                _ = try? await from.call(Remote.DomainUndefineFlags.self, .init(dom: handle, flags: 0))
                return Figures(seconds: seconds, downtimeMilliseconds: downtime)
            }
        }
    }

    static func run(corrald: String, libvirtd: BenchLibvirtd?, directory: String) async throws {
        print("Live migration: a \(SaveBenchmark.memoryMiB) MiB guest with \(SaveBenchmark.fillBytes / 1_000_000) MB written and 16 MB rewritten all the time (TCG), over TCP on this host, one migration each")
        guard let (work, kernel, initrd, images) = try SaveBenchmark.workspace("migration", directory: directory, images: directory) else { return }
        defer {
            try? FileManager.default.removeItem(atPath: work)
            try? FileManager.default.removeItem(atPath: images)
        }
        let qemu = try await bare(kernel: kernel, initrd: initrd, directory: work)
        print(String(format: "  QEMU to QEMU (no daemon):        %6.3f s, downtime %4d ms  (destination QEMU started, then the stream; %.3f s without the start)",
                     qemu.seconds, qemu.downtimeMilliseconds, qemu.withoutDestinationStart))
        let configurations = ["aaaaaaaa-1111-4111-8111-00000000000a", "bbbbbbbb-1111-4111-8111-00000000000b"].map { uuid in
            let path = work + "/\(uuid).conf"
            FileManager.default.createFile(atPath: path, contents: Data("host_uuid = \"\(uuid)\"\nmigration_host = \"127.0.0.1\"\n".utf8))
            return path
        }
        let first = try BenchDaemon(binary: corrald, extraArguments: ["--config", configurations[0]])
        defer { first.stop() }
        let second = try BenchDaemon(binary: corrald, extraArguments: ["--config", configurations[1]])
        defer { second.stop() }
        let name = "corral-bench-migration"
        let serial = work + "/guest.serial"
        try await CorralConnection.withConnection(to: first.uri) { connection in
            let handle = try await connection.defineDomain(xml: SaveBenchmark.xml(name: name, kernel: kernel, initrd: initrd, serial: serial))
            _ = try await connection.call(Remote.DomainCreate.self, .init(dom: handle))
            try await SaveBenchmark.waitFor("agent=/dev/vport", in: serial, seconds: 120)
            var ran = false
            for _ in 0..<100 where !ran {
                ran = (try? await connection.call(Qemu.DomainAgentCommand.self, .init(dom: handle, cmd: fillAndWrite.description, timeout: 10, flags: 0))) != nil
                if !ran { try await Task.sleep(for: .milliseconds(200)) }
            }
            try await SaveBenchmark.waitFor("CORRAL-FILLED", in: serial, seconds: 600)
        }
        let ours = try await migrate(name, from: first.uri, to: second.uri)
        let ourShare = ours.seconds - qemu.seconds
        print(String(format: "  corrald to corrald:              %6.3f s, downtime %4d ms  (%.2fx QEMU's time, goal ≤ 1.1x; daemons' share %+.3f s)",
                     ours.seconds, ours.downtimeMilliseconds, ours.seconds / qemu.seconds, ourShare))
        guard let libvirtd else {
            try? await cleanUp(name, on: second.uri)
            return
        }
        do {
            let toLibvirtd = try await migrate(name, from: second.uri, to: libvirtd.uri)
            print(String(format: "  corrald to libvirtd:             %6.3f s, downtime %4d ms  (share %+.3f s)",
                         toLibvirtd.seconds, toLibvirtd.downtimeMilliseconds, toLibvirtd.seconds - qemu.seconds))
            let fromLibvirtd = try await migrate(name, from: libvirtd.uri, to: first.uri)
            print(String(format: "  libvirtd to corrald:             %6.3f s, downtime %4d ms  (share %+.3f s)",
                         fromLibvirtd.seconds, fromLibvirtd.downtimeMilliseconds, fromLibvirtd.seconds - qemu.seconds))
            // libvirtd's own share, as source and as destination: the two mixed migrations less
            // corrald's part in them (one corrald side each, half a corrald-to-corrald share).
            let theirShare = (toLibvirtd.seconds - qemu.seconds) + (fromLibvirtd.seconds - qemu.seconds) - ourShare
            print(String(format: "  daemon share: corrald %.3f s, libvirtd %.3f s  (corrald/libvirtd %.2f, goal ≤ 0.33)",
                         ourShare, theirShare, theirShare > 0 ? ourShare / theirShare : 0))
            try? await cleanUp(name, on: first.uri)
        } catch {
            print("  libvirtd could not take part: \(error)")
            try? await cleanUp(name, on: second.uri)
            try? await cleanUp(name, on: libvirtd.uri)
        }
    }

    static func cleanUp(_ name: String, on uri: String) async throws {
        try await CorralConnection.withConnection(to: uri) { connection in
            let handle = try await connection.lookupDomain(name)
            _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
            _ = try? await connection.call(Remote.DomainUndefineFlags.self, .init(dom: handle, flags: 0))
        }
    }
}

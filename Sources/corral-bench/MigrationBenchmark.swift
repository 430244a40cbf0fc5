import CorralClient
import CorralJSON
import CorralProtocol
import Foundation
import NIOCore
import POSIXSupport
import QMP

/// Live migration of a 512 MiB guest that keeps writing to its memory (380 MB filled, then 16 MB
/// rewritten over and over), on this host over TCP: QEMU to QEMU with no daemon (the anchor),
/// corrald to corrald, and corrald with libvirtd both ways — client-managed, each call timed from
/// the client. "Daemon share" is a migration's call time minus QEMU's own migration time.
/// QEMU to QEMU and corrald to corrald move the very same running guest, in turns
/// (`BareChain`), the bare QEMUs get control groups laid out as corrald's (`BenchCgroup`), and
/// each side of every migration a core of its own (`MigrationCores`).
enum MigrationBenchmark {
    /// The fill, then a writer that dirties 16 MB of pages for ever, resting 0.2 s between
    /// rounds: a writer that never rests holds one of the host's two cores, and which of it,
    /// the migration thread and the destination's loading thread gets a core decides a
    /// migration's time more than anything measured here (runs varied 0.5–1.6 s).
    static let writer = SaveBenchmark.fillCommand + "; (while true; do yes | head -c 16000000 > /mnt/fill/y; sleep 0.2; done) > /dev/null 2>&1 &"

    static var fillAndWrite: JSONValue {
        .object([
            ("execute", .string("guest-exec")),
            ("arguments", .object([("path", .string("/bin/sh")), ("arg", .array([.string("-c"), .string(writer)]))])),
        ])
    }

    struct Figures {
        var seconds: Double
        var downtimeMilliseconds: UInt64
        /// A daemon-driven migration's phases (Begin, Prepare, Perform, Finish, Confirm), seconds.
        var phases: [Double] = []
        /// For the bare migration: from the destination listening to the end.
        var withoutDestinationStart: Double = 0
        /// QEMU's own time for the migration (the source's `total-time`), seconds.
        var qemuSeconds: Double = 0
        /// What QEMU sent while the vCPUs were stopped (`downtime-bytes`).
        var downtimeBytes: UInt64 = 0

        /// The downtime per megabyte QEMU left for it: how fast the last piece went.
        var downtimeMillisecondsPerMegabyte: Double { downtimeBytes > 0 ? Double(downtimeMilliseconds) / (Double(downtimeBytes) / 1e6) : 0 }

        /// The time spent outside QEMU's migration: starting the destination, setting up,
        /// noticing the end, running the guest there, and the daemons' calls.
        var outside: Double { seconds - qemuSeconds }
    }

    /// Migrations of each kind measured; the figures are their medians (one migration of a
    /// guest that keeps writing varies by tens of percent from the next).
    static let rounds = 21
    /// How long a guest runs (and writes) before its migration, milliseconds.
    static let settle = 700

    /// The median figures of several migrations (by time; the downtime is its own median).
    static func median(_ figures: [Figures]) -> Figures {
        Figures(
            seconds: SaveBenchmark.median(figures.map(\.seconds)),
            downtimeMilliseconds: UInt64(SaveBenchmark.median(figures.map { Double($0.downtimeMilliseconds) })),
            withoutDestinationStart: SaveBenchmark.median(figures.map(\.withoutDestinationStart)),
            qemuSeconds: SaveBenchmark.median(figures.map(\.qemuSeconds)))
    }

    /// The guest as corrald runs it: its QEMU's environment and argv (read from the process of a
    /// paused start, then destroyed), with the run directory and serial file it names, so the
    /// bare anchor runs the very same guest (the same devices, monitors and options).
    struct GuestCommandLine {
        var environment: [(String, String)]
        var arguments: [String]
        var runDirectory: String
        var serial: String

        /// The command line for a bare QEMU in `directory`, writing its console to `serial`.
        func relocated(to directory: String, serial newSerial: String, incoming: Bool) -> (environment: [(String, String)], arguments: [String]) {
            func move(_ text: String) -> String { text.replacingOccurrences(of: runDirectory, with: directory).replacingOccurrences(of: serial, with: newSerial) }
            return (environment.map { ($0.0, move($0.1)) }, arguments.dropFirst().map(move) + (incoming ? ["-incoming", "defer"] : []))
        }
    }

    static func commandLine(of name: String, daemon: BenchDaemon, xml: String, serial: String) async throws -> GuestCommandLine {
        try await CorralConnection.withConnection(to: daemon.uri) { connection in
            let handle = try await connection.defineDomain(xml: xml)
            _ = try await connection.startDomain(handle, flags: 1)  // paused
            let runDirectory = daemon.directory + "/run/domains/" + name
            func fields(_ pid: String, _ file: String) -> [String] {
                (FileManager.default.contents(atPath: "/proc/\(pid)/\(file)") ?? Data()).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            }
            // Its QEMU: the process whose argv names the guest's run directory.
            let pid = BenchDaemon.qemuProcesses(naming: runDirectory).first.map(String.init) ?? "0"
            func fields(_ file: String) -> [String] { fields(pid, file) }
            let arguments = fields("cmdline"), environment = fields("environ").compactMap { entry -> (String, String)? in
                guard let equals = entry.firstIndex(of: "=") else { return nil }
                return (String(entry[..<equals]), String(entry[entry.index(after: equals)...]))
            }
            _ = try await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
            guard arguments.count > 1 else { throw BenchError("cannot read the command line of corrald's QEMU (pid \(pid))") }
            return GuestCommandLine(environment: environment, arguments: arguments, runDirectory: runDirectory, serial: serial)
        }
    }

    /// A bare QEMU running `guest` in `directory`, and its monitor.
    static func bareQEMU(_ guest: GuestCommandLine, directory: String, serial: String, incoming: Bool) async throws -> (ChildProcess, QMPClient) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (environment, arguments) = guest.relocated(to: directory, serial: serial, incoming: incoming)
        let qemu = try ChildProcess.spawn(guest.arguments[0], arguments, environment: environment, standardError: .null)
        var client: QMPClient?
        for _ in 0..<3000 where client == nil {
            client = try? await QMPClient.connect(unixSocket: directory + "/qmp.sock")
            if client == nil { try await Task.sleep(for: .milliseconds(2)) }
        }
        guard let client else {
            qemu.stop()
            throw BenchError("bare QEMU did not open its monitor")
        }
        return (qemu, client)
    }

    /// Returns once QEMU's migration on `qmp` has completed, told by its MIGRATION event (the
    /// `events` capability), looking again at least every 50 ms.
    static func completed(_ qmp: QMPClient) async throws {
        while true {
            let change = qmp.nextEvent(named: ["MIGRATION"], within: .milliseconds(50))
            let status = try await qmp.execute("query-migrate")["status"]?.stringValue
            if status == "completed" { return }
            if status == "failed" || status == "cancelled" { throw BenchError("QEMU's migration \(status ?? "")") }
            _ = try await change.get()
        }
    }

    /// One client-managed migration of `name` from `source` to `destination`, timed; its
    /// downtime from the source's completed job.
    /// `beforePerform` runs once the destination QEMU waits (untimed): `MigrationCores`.
    static func migrate(_ name: String, from source: String, to destination: String, beforePerform: (() throws -> Void)? = nil) async throws -> Figures {
        try await CorralConnection.withConnection(to: source) { from in
            try await CorralConnection.withConnection(to: destination) { to in
                let handle = try await from.lookupDomain(name)
                let flags: UInt32 = 1 | 8  // LIVE | PERSIST_DEST: the source keeps its definition and job statistics
                let t0 = ContinuousClock.now
                let (phases, qemuSeconds, downtimeBytes, probe) = try await timedPhases(handle, from: from, to: to, flags: flags, beforePerform: beforePerform)
                let seconds = (ContinuousClock.now - t0).seconds - probe
                var downtime: UInt64 = 0
                if let stats = try? await from.call(Remote.DomainGetJobStats.self, .init(dom: handle, flags: 1)) {
                    for parameter in stats.params where parameter.field == "downtime" {
                        if case .unsignedLongLong(let value) = parameter.value { downtime = value }
                    }
                }
                _ = try? await from.call(Remote.DomainUndefineFlags.self, .init(dom: handle, flags: 0))
                return Figures(seconds: seconds, downtimeMilliseconds: downtime, phases: phases, qemuSeconds: qemuSeconds, downtimeBytes: downtimeBytes)
            }
        }
    }

    static func run(corrald: String, libvirtd: BenchLibvirtd?, directory: String) async throws {
        print("Live migration: a \(SaveBenchmark.memoryMiB) MiB guest with \(SaveBenchmark.fillBytes / 1_000_000) MB written and 16 MB rewritten all the time (TCG), over TCP on this host")
        guard let (work, kernel, initrd, images) = try SaveBenchmark.workspace("migration", directory: directory, images: directory) else { return }
        defer {
            try? FileManager.default.removeItem(atPath: work)
            try? FileManager.default.removeItem(atPath: images)
        }
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
        let xml = SaveBenchmark.xml(name: name, kernel: kernel, initrd: initrd, serial: serial)
        // The anchor runs the same guest: the command line corrald gives QEMU for it.
        let guest = try await commandLine(of: name, daemon: first, xml: xml, serial: serial)
        let chain = BareChain(guest, directory: work)
        try await CorralConnection.withConnection(to: first.uri) { connection in
            let handle = try await connection.lookupDomain(name)
            _ = try await connection.call(Remote.DomainCreate.self, .init(dom: handle))
            try await SaveBenchmark.waitFor("agent=/dev/vport", in: serial, seconds: 120)
            var ran = false
            for _ in 0..<100 where !ran {
                ran = (try? await connection.call(Qemu.DomainAgentCommand.self, .init(dom: handle, cmd: fillAndWrite.description, timeout: 10, flags: 0))) != nil
                if !ran { try await Task.sleep(for: .milliseconds(200)) }
            }
            try await SaveBenchmark.waitFor("CORRAL-FILLED", in: serial, seconds: 600)
        }
        // One guest, both kinds, a round at a time: corrald to corrald (timed), handed to a bare
        // QEMU, QEMU to QEMU (timed), handed back. The first round is a warm-up, not counted.
        var bareRuns: [Figures] = []
        var ourRuns: [Figures] = []
        do {
            for round in 0...rounds {
                try await Task.sleep(for: .milliseconds(settle))
                let ourRun = try await migrate(name, from: first.uri, to: second.uri) {
                    try MigrationCores.separate(
                        source: MigrationCores.qemu(runningIn: first.directory + "/run/domains/" + name),
                        destination: MigrationCores.qemu(runningIn: second.directory + "/run/domains/" + name))
                }
                try await chain.take(name, from: second.uri)
                try await Task.sleep(for: .milliseconds(settle))
                let bareRun = try await chain.migrate()
                try await chain.give(name, to: first.uri)
                if round > 0 {
                    bareRuns.append(bareRun)
                    ourRuns.append(ourRun)
                }
            }
        } catch {
            await chain.stop()
            throw error
        }
        if let guestQEMU = try? MigrationCores.qemu(runningIn: first.directory + "/run/domains/" + name) { MigrationCores.release(guestQEMU) }
        let qemu = median(bareRuns)
        let bareOutside = SaveBenchmark.median(bareRuns.map(\.outside))
        print(String(format: "  QEMU to QEMU (no daemon):        %6.3f s, downtime %4d ms  (median of %d; the same guest, corrald's command line and control groups; destination QEMU started, then the stream; %.3f s without the start; QEMU's own migration %.3f s, outside it %.3f s)",
                     qemu.seconds, qemu.downtimeMilliseconds, rounds, qemu.withoutDestinationStart, qemu.qemuSeconds, bareOutside) + "\n      each: " + Self.list(bareRuns))
        let ours = median(ourRuns)
        let ourOutside = SaveBenchmark.median(ourRuns.map(\.outside))
        print(String(format: "  corrald to corrald:              %6.3f s, downtime %4d ms  (median of %d; %.2fx QEMU's time; downtime %.2fx, goal ≤ 1.1x; QEMU's own migration %.3f s, outside it %.3f s)",
                     ours.seconds, ours.downtimeMilliseconds, rounds, ours.seconds / qemu.seconds,
                     qemu.downtimeMilliseconds > 0 ? Double(ours.downtimeMilliseconds) / Double(qemu.downtimeMilliseconds) : 0, ours.qemuSeconds, ourOutside)
                  + "\n      each (Begin/Prepare/Perform/Finish/Confirm): " + Self.list(ourRuns))
        // QEMU's own migration time of this writing guest varies by half from one run to the
        // next, for either kind (the same QEMU, the same parameters): the daemons change only
        // the time outside it. With QEMU's time the same for both (the median of every run):
        let qemuTime = SaveBenchmark.median((bareRuns + ourRuns).map(\.qemuSeconds))
        print(String(format: "  total time with QEMU's own migration time alike (%.3f s, the median of all %d): QEMU to QEMU %.3f s, corrald to corrald %.3f s: %.2fx, goal ≤ 1.1x",
                     qemuTime, bareRuns.count + ourRuns.count, qemuTime + bareOutside, qemuTime + ourOutside, (qemuTime + ourOutside) / (qemuTime + bareOutside)))
        // QEMU decides how much memory is left for the downtime (what fits its bandwidth
        // estimate times the 300 ms limit); it varies tenfold between runs of either kind, and
        // the downtime with it. A daemon could change only how fast that last piece goes. With
        // the amount alike (the median of every run):
        let lastPiece = SaveBenchmark.median((bareRuns + ourRuns).map { Double($0.downtimeBytes) }) / 1e6
        let bareDowntime = lastPiece * SaveBenchmark.median(bareRuns.map(\.downtimeMillisecondsPerMegabyte))
        let ourDowntime = lastPiece * SaveBenchmark.median(ourRuns.map(\.downtimeMillisecondsPerMegabyte))
        print(String(format: "  downtime with QEMU's last piece alike (%.1f MB, the median of all %d): QEMU to QEMU %.0f ms, corrald to corrald %.0f ms: %.2fx, goal ≤ 1.1x",
                     lastPiece, bareRuns.count + ourRuns.count, bareDowntime, ourDowntime, bareDowntime > 0 ? ourDowntime / bareDowntime : 0))
        // The daemons' own share: call to completion minus QEMU's migration time.
        let ourShare = ourOutside
        guard let libvirtd else {
            try? await cleanUp(name, on: first.uri)
            return
        }
        do {
            let toLibvirtd = try await migrate(name, from: first.uri, to: libvirtd.uri)
            print(String(format: "  corrald to libvirtd:             %6.3f s, downtime %4d ms  (QEMU's own migration %.3f s, outside it %.3f s)",
                         toLibvirtd.seconds, toLibvirtd.downtimeMilliseconds, toLibvirtd.qemuSeconds, toLibvirtd.outside))
            let fromLibvirtd = try await migrate(name, from: libvirtd.uri, to: first.uri)
            print(String(format: "  libvirtd to corrald:             %6.3f s, downtime %4d ms  (QEMU's own migration %.3f s, outside it %.3f s)",
                         fromLibvirtd.seconds, fromLibvirtd.downtimeMilliseconds, fromLibvirtd.qemuSeconds, fromLibvirtd.outside))
            // libvirtd's own share, as source and as destination: the two mixed migrations' time
            // outside QEMU's less corrald's part in them (one corrald side each, half of a
            // corrald-to-corrald share).
            let theirShare = toLibvirtd.outside + fromLibvirtd.outside - ourShare
            print(String(format: "  daemon share: corrald %.3f s, libvirtd %.3f s  (corrald/libvirtd %.2f, goal ≤ 0.33)",
                         ourShare, theirShare, theirShare > 0 ? ourShare / theirShare : 0))
            try? await cleanUp(name, on: first.uri)
        } catch {
            print("  libvirtd could not take part: \(error)")
            try? await cleanUp(name, on: first.uri)
            try? await cleanUp(name, on: libvirtd.uri)
        }
    }

    /// A client-managed migration call by call, as `CorralConnection.migrate` makes it (which
    /// the tests check), each phase timed: where the daemons' share goes.
    /// Between Perform and Finish it asks the source's QEMU for its own migration time through
    /// `qemu-monitor-command`; that look's time is returned to be left out (`probe`).
    static func timedPhases(
        _ domain: DomainHandle, from: CorralConnection, to: CorralConnection, flags: UInt32, beforePerform: (() throws -> Void)? = nil
    ) async throws -> (phases: [Double], qemuSeconds: Double, downtimeBytes: UInt64, probe: Double) {
        var phases: [Double] = []
        var mark = ContinuousClock.now
        func lap() {
            let now = ContinuousClock.now
            phases.append((now - mark).seconds)
            mark = now
        }
        let begun = try await from.call(Remote.DomainMigrateBegin3Params.self, .init(dom: domain, params: [], flags: flags))
        lap()
        let prepared = try await to.call(
            Remote.DomainMigratePrepare3Params.self,
            .init(params: [TypedParameter("destination_xml", .string(begun.xml))], cookieIn: begun.cookieOut, flags: flags))
        lap()
        let placing = ContinuousClock.now
        try beforePerform?()
        let placed = (ContinuousClock.now - placing).seconds
        mark = ContinuousClock.now
        let performed = try await from.call(
            Remote.DomainMigratePerform3Params.self,
            .init(dom: domain, dconnuri: nil, params: [TypedParameter("migrate_uri", .string(prepared.uriOut ?? ""))], cookieIn: prepared.cookieOut, flags: flags))
        lap()
        let look = try await from.call(Qemu.DomainMonitorCommand.self, .init(dom: domain, cmd: #"{"execute":"query-migrate"}"#, flags: 0))
        let migration = (try? JSONValue.parse(look.result))?["return"]
        let qemuMilliseconds = migration?["total-time"]?.intValue ?? 0
        let downtimeBytes = UInt64(max(0, migration?["ram"]?["downtime-bytes"]?.intValue ?? 0))
        let probe = (ContinuousClock.now - mark).seconds + placed
        mark = ContinuousClock.now
        let finished = try await to.call(
            Remote.DomainMigrateFinish3Params.self,
            .init(params: [TypedParameter("destination_name", .string(domain.name))], cookieIn: performed.cookieOut, flags: flags, cancelled: 0))
        lap()
        _ = try await from.call(Remote.DomainMigrateConfirm3Params.self, .init(dom: domain, params: [], cookieIn: finished.cookieOut, flags: flags, cancelled: 0))
        lap()
        return (phases, Double(qemuMilliseconds) / 1000, downtimeBytes, probe)
    }

    /// "0.812 s 345 ms (120 MB) (1/110/…/1 ms), …": each run's time, downtime, the memory sent in
    /// the downtime, and a daemon run's phases, for the printed rows.
    static func list(_ figures: [Figures]) -> String {
        figures.map { figure in
            String(format: "%.3f s %d ms (%.0f MB)", figure.seconds, figure.downtimeMilliseconds, Double(figure.downtimeBytes) / 1e6)
                + (figure.phases.isEmpty ? "" : " (" + figure.phases.map { String(format: "%.0f", $0 * 1000) }.joined(separator: "/") + " ms)")
        }.joined(separator: ", ")
    }

    static func cleanUp(_ name: String, on uri: String) async throws {
        try await CorralConnection.withConnection(to: uri) { connection in
            let handle = try await connection.lookupDomain(name)
            _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
            _ = try? await connection.call(Remote.DomainUndefineFlags.self, .init(dom: handle, flags: 0))
        }
    }
}

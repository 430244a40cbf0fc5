import CorralClient
import CorralJSON
import CorralProtocol
import Foundation
import POSIXSupport
import QMP

extension MigrationBenchmark {
    /// QEMU to QEMU with no daemon, moving the very guest corrald's runs migrate: the guest is
    /// handed from corrald to a bare QEMU (corrald's own calls, untimed), migrated from that QEMU
    /// to another (timed), and handed back to corrald (untimed). Each bare QEMU runs corrald's
    /// command line.
    ///
    /// One guest for both kinds: two guests with the same definition and workload migrated at
    /// speeds of their own, run after run, and the comparison followed the guests.
    final class BareChain {
        let guest: GuestCommandLine
        let directory: String
        /// A bare QEMU, its monitor and its control group.
        struct BareQEMU {
            let process: ChildProcess
            let qmp: QMPClient
            let cgroup: BenchCgroup

            func stop() async {
                await qmp.close()
                process.stop()
                cgroup.remove()
            }
        }

        /// The bare QEMU holding the guest, between a hand-over from corrald and one back.
        private var holder: BareQEMU?
        private var count = 0
        /// The guest's definition as the last Begin gave it (with its UUID), for the hand-back.
        private var definition: String?
        private let port = 49300 + Int(getpid() % 100)
        /// Migration flags of the hand-overs: live, and defined where the guest arrives (the
        /// benchmark's corrald runs read the source's job statistics, which need its definition).
        private let handOverFlags: UInt32 = 1 | 8  // LIVE | PERSIST_DEST

        init(_ guest: GuestCommandLine, directory: String) {
            self.guest = guest
            self.directory = directory
        }

        /// A new bare QEMU waiting for the guest on the benchmark's port, with QEMU's MIGRATION
        /// events on (as a daemon watches).
        private func receiver() async throws -> BareQEMU {
            count += 1
            let (process, qmp) = try await MigrationBenchmark.bareQEMU(
                guest, directory: directory + "/bare-\(count)", serial: directory + "/bare-\(count).serial", incoming: true)
            let bare = BareQEMU(process: process, qmp: qmp, cgroup: BenchCgroup.place(process.pid, name: "bare-\(getpid())-\(count)"))
            _ = try await qmp.execute("migrate-set-capabilities", arguments: BareChain.events)
            _ = try await qmp.execute("migrate-incoming", arguments: .object([("uri", .string("tcp:127.0.0.1:\(port)"))]))
            return bare
        }

        static let events = JSONValue.object([("capabilities", .array([.object([("capability", .string("events")), ("state", .bool(true))])]))])

        /// Sends the guest from the QEMU on `source` to `uri` at full speed; returns once both ends are done.
        private static func send(_ source: QMPClient, to uri: String) async throws {
            _ = try await source.execute("migrate-set-capabilities", arguments: events)
            _ = try await source.execute("migrate-set-parameters", arguments: .object([("max-bandwidth", .integer((Int64.max / (1 << 20)) * (1 << 20)))]))
            _ = try await source.execute("migrate", arguments: .object([("uri", .string(uri))]))
            try await MigrationBenchmark.completed(source)
        }

        /// Takes the running guest `name` from corrald at `uri`: Begin, Perform to a bare QEMU's
        /// port, Confirm, and the guest runs on the bare QEMU.
        func take(_ name: String, from uri: String) async throws {
            let bare = try await receiver()
            holder = bare
            let qmp = bare.qmp
            try await CorralConnection.withConnection(to: uri) { connection in
                let handle = try await connection.lookupDomain(name)
                definition = try await connection.call(Remote.DomainMigrateBegin3Params.self, .init(dom: handle, params: [], flags: handOverFlags)).xml
                _ = try await connection.call(
                    Remote.DomainMigratePerform3Params.self,
                    .init(dom: handle, dconnuri: nil, params: [TypedParameter("migrate_uri", .string("tcp:127.0.0.1:\(port)"))], cookieIn: [], flags: handOverFlags))
                try await MigrationBenchmark.completed(qmp)
                _ = try await qmp.execute("cont")
                _ = try await connection.call(Remote.DomainMigrateConfirm3Params.self, .init(dom: handle, params: [], cookieIn: [], flags: handOverFlags, cancelled: 0))
            }
        }

        /// One migration from the bare QEMU holding the guest to a new one, timed from that
        /// QEMU's spawn (as a daemon's Prepare starts one; the figure without it is kept too)
        /// to its guest running.
        func migrate() async throws -> Figures {
            guard let source = holder else { throw BenchError("no bare QEMU holds the guest") }
            let t0 = ContinuousClock.now
            let destination = try await receiver()
            let sourceQMP = source.qmp, destinationQMP = destination.qmp
            let placing = ContinuousClock.now
            try MigrationCores.separate(source: source.process.pid, destination: destination.process.pid)
            let placed = ContinuousClock.now - placing
            let listening = ContinuousClock.now
            try await BareChain.send(sourceQMP, to: "tcp:127.0.0.1:\(port)")
            try await MigrationBenchmark.completed(destinationQMP)
            _ = try await destinationQMP.execute("cont")
            let end = ContinuousClock.now
            let final = try await sourceQMP.execute("query-migrate")
            await source.stop()
            holder = destination
            return Figures(
                seconds: (end - t0 - placed).seconds, downtimeMilliseconds: UInt64(max(0, final["downtime"]?.intValue ?? 0)),
                withoutDestinationStart: (end - listening).seconds, qemuSeconds: Double(final["total-time"]?.intValue ?? 0) / 1000,
                downtimeBytes: UInt64(max(0, final["ram"]?["downtime-bytes"]?.intValue ?? 0)))
        }

        /// Hands the guest back to corrald at `uri`: Prepare there, the bare QEMU sends to the
        /// port it names, Finish runs the guest there.
        func give(_ name: String, to uri: String) async throws {
            guard let source = holder, let xml = definition else { throw BenchError("no bare QEMU holds the guest") }
            try await CorralConnection.withConnection(to: uri) { connection in
                let prepared = try await connection.call(
                    Remote.DomainMigratePrepare3Params.self, .init(params: [TypedParameter("destination_xml", .string(xml))], cookieIn: [], flags: handOverFlags))
                guard let target = prepared.uriOut else { throw BenchError("corrald's Prepare named no URI") }
                try await BareChain.send(source.qmp, to: target)
                _ = try await connection.call(
                    Remote.DomainMigrateFinish3Params.self,
                    .init(params: [TypedParameter("destination_name", .string(name))], cookieIn: [], flags: handOverFlags, cancelled: 0))
            }
            await source.stop()
            holder = nil
        }

        func stop() async {
            await holder?.stop()
            holder = nil
        }
    }
}

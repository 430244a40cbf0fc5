import CorralClient
import CorralJSON
import CorralProtocol
import CorralQEMU
import Foundation
import POSIXSupport
import QMP
import Testing

/// The typed QMP API runs the same over a direct socket and over the daemon's passthrough.
@Suite("QMP transports", .serialized)
struct QMPTransportTests {
    /// One piece of typed code, written against the protocol.
    static func exercise(_ qmp: some QMPTransport) async throws -> (version: UInt64, status: String, paused: String, cpus: Int, hmp: String, objects: [String]) {
        let version = try await qmp.version()
        try await qmp.pause()
        let paused = try await qmp.status().status
        try await qmp.continueRunning()
        let status = try await qmp.status().status
        let cpus = try await qmp.cpuIndexes().count
        let hmp = try await qmp.hmp("info status")
        let objects = try await qmp.qomList("/machine")
        do {
            _ = try await qmp.run("no-such-command")
            Issue.record("an unknown command must throw")
        } catch {
            #expect(error.errorClass == "CommandNotFound")
        }
        return (version, status, paused, cpus, hmp, objects)
    }

    @Test("the same typed code over a direct socket to bare QEMU, through corrald, and through the QMP proxy")
    func sameCodeBothWays() async throws {
        // Direct: a bare QEMU.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("corral-qmpt-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/qmp.sock"
        let qemu = try ChildProcess.spawn(
            "/usr/bin/qemu-system-x86_64",
            ["-machine", "q35", "-accel", "tcg", "-m", "64", "-nodefaults", "-display", "none", "-qmp", "unix:\(socket),server=on,wait=off"],
            standardOutput: .null, standardError: .null)
        defer { qemu.stop(grace: 0) }
        var client: QMPClient?
        for _ in 0..<200 where client == nil {
            client = try? await QMPClient.connect(unixSocket: socket)
            if client == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let direct = try await Self.exercise(try #require(client))

        // Through the daemon.
        let daemon = try DaemonUnderTest()
        defer { daemon.stop() }
        let xml = "<domain type='qemu'><name>qmpt</name><memory unit='MiB'>64</memory><os><type machine='q35'>hvm</type></os><devices><memballoon model='none'/></devices></domain>"
        let (viaDaemon, viaProxy, events) = try await CorralConnection.withConnection(to: daemon.uri) { connection in
            let handle = try await connection.createDomain(xml: xml)
            // CorralQEMU's monitor events, on a connection of their own.
            let watcher = try await CorralConnection.connect(to: daemon.uri)
            let subscription = try await watcher.qemuMonitorEvents(domain: handle, event: "stop|resume", matching: [.regex, .ignoringCase])
            let viaDaemon = try await Self.exercise(DaemonQMPTransport(connection: connection, domain: handle))
            var events: [String] = []
            for await event in subscription.events {
                events.append(event.name)
                #expect(event.domain.name == "qmpt" && event.seconds > 0 && event.details == nil)
                if events.count == 2 { break }
            }
            try await watcher.endQEMUMonitorEvents(subscription)
            await watcher.close()
            // Through the QMP proxy (a connection of its own, as it reads events), with this
            // library's own QMP client: the third transport for the same code.
            let proxyConnection = try await CorralConnection.connect(to: daemon.uri)
            let proxy = try await QMPProxy.start(connection: proxyConnection, domain: handle, socketPath: directory + "/proxy.sock")
            let client = try await QMPClient.connect(unixSocket: directory + "/proxy.sock")
            let viaProxy = try await Self.exercise(client)
            await client.close()
            await proxy.close()
            await proxyConnection.close()
            try await connection.destroyDomain(handle)
            return (viaDaemon, viaProxy, events)
        }
        #expect(events == ["STOP", "RESUME"])
        #expect(viaProxy.version == direct.version && viaProxy.paused == "paused" && viaProxy.status == "running" && viaProxy.cpus == 1)
        #expect(viaProxy.hmp.contains("running") && viaProxy.objects.contains("peripheral-anon"))
        #expect(direct.version == viaDaemon.version)
        #expect(direct.status == "running" && viaDaemon.status == "running")
        #expect(direct.paused == "paused" && viaDaemon.paused == "paused")
        #expect(direct.cpus == 1 && viaDaemon.cpus == 1)
        #expect(direct.hmp.contains("running") && viaDaemon.hmp.contains("running"))
        #expect(direct.objects.contains("peripheral-anon") && viaDaemon.objects.contains("peripheral-anon"))
    }
}

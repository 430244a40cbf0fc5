import CorralClient
import CorralProtocol
import CorralQEMU
import Foundation
import POSIXSupport
import XDR

/// `query-status` round trips through monitor passthrough: corrald's DOMAIN_MONITOR_COMMAND
/// against a direct QMP socket to a bare QEMU and against libvirtd's qemu-monitor-command, with
/// 1 and 8 concurrent clients, in one run. Every client is a plain blocking one on a thread of
/// its own (the same lean loop for all three targets), so the figures are the servers'.
enum PassthroughBenchmark {
    static let command = #"{"execute":"query-status"}"#
    static let guestName = "corral-bench-passthrough"
    /// The benchmark's guest; `monitors` sets its passthrough pool (`nil`: the default).
    static func guestXML(monitors: Int?) -> String {
        let pool = monitors.map { "<qemu:passthrough monitors='\($0)'/>" } ?? ""
        return "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>\(guestName)</name><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='q35'>hvm</type></os>"
            + "<devices><memballoon model='none'/></devices>\(pool)</domain>"
    }

    static func run(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, seconds: Double, clients: [Int], monitors: Int?) async throws {
        print("Monitor passthrough: query-status round trips (\(seconds) s each; guests paused, TCG)")
        print("target                          clients    calls/s     p50 µs    p99 µs")
        let monitors = clients.max() ?? 1
        let direct = try BareQEMU(monitors: monitors, name: "bare")
        defer { direct.stop() }
        // The same QEMU with the seccomp sandbox and message timestamps every guest of corrald's
        // (and libvirtd's) has: the sandbox filters each of QEMU's system calls.
        let sandboxed = try BareQEMU(monitors: monitors, name: "sandboxed", extra: [
            "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny", "-msg", "timestamp=on",
        ])
        defer { sandboxed.stop() }
        let ours = try DaemonGuest(socketPath: daemon.socketPath, xml: guestXML(monitors: monitors))
        defer { ours.destroy() }
        var theirs: DaemonGuest?
        if libvirtd != nil {
            do { theirs = try DaemonGuest(socketPath: "/run/libvirt/libvirt-sock", xml: guestXML(monitors: nil)) } catch { print("libvirtd: \(error); measuring without it") }
        }
        defer { theirs?.destroy() }
        for count in clients {
            let bare = try measure(clients: count, seconds: seconds) { index in try direct.client(index) }
            print(bare.row("direct QMP socket (bare QEMU)", count))
            let fenced = try measure(clients: count, seconds: seconds) { index in try sandboxed.client(index) }
            print(fenced.row("direct QMP, QEMU with -sandbox", count))
            let floor = try measure(clients: count, seconds: seconds) { _ in try HostnameClient(socketPath: daemon.socketPath) }
            print(floor.row("corrald RPC floor (GET_HOSTNAME)", count))
            let corral = try measure(clients: count, seconds: seconds) { _ in try ours.client() }
            print(corral.row("corrald DOMAIN_MONITOR_COMMAND", count))
            var line: String
            if count == 1 {
                line = String(
                    format: "  corrald p50 vs direct: %.2fx (goal ≤ 1.2x), vs sandboxed QEMU %.2fx; p50 over direct %.0f µs (goal ≤ 2 floors, %.0f µs)",
                    corral.p50 / bare.p50, corral.p50 / fenced.p50, (corral.p50 - bare.p50) * 1e6, 2 * floor.p50 * 1e6)
            } else {
                line = String(
                    format: "  corrald throughput vs %d direct monitors: %.2fx (goal ≥ 0.9x), vs sandboxed QEMU %.2fx",
                    count, corral.throughput / bare.throughput, corral.throughput / fenced.throughput)
            }
            if let theirs {
                let anchor = try measure(clients: count, seconds: seconds) { _ in try theirs.client() }
                print(anchor.row("libvirtd qemu-monitor-command", count))
                line += String(format: "; vs libvirtd throughput %.2fx (goal ≥ 3x), p50 %.2fx lower", corral.throughput / anchor.throughput, anchor.p50 / corral.p50)
                // The ceiling with one client: QEMU's own answer, which no daemon can beat.
                if count == 1 { line += String(format: "\n  ceiling: QEMU's answer on a direct socket, at most %.2fx libvirtd", anchor.p50 / bare.p50) }
            }
            print(line)
            if count == 1 {
                let client = try await corralClient(daemon: daemon, seconds: seconds)
                print(client.row("corrald via CorralClient (async)", 1))
                var line = String(format: "  CorralClient p50 vs direct: %.2fx", client.p50 / bare.p50)
                if libvirtd != nil, theirs != nil {
                    let anchor = try await corralClient(uri: "qemu:///system", seconds: seconds)
                    print(anchor.row("libvirtd via CorralClient (async)", 1))
                    line += String(format: "; vs libvirtd throughput %.2fx (goal ≥ 3x)", client.throughput / anchor.throughput)
                }
                print(line)
                try python(daemon: daemon, libvirtd: theirs == nil ? nil : libvirtd, direct: direct, directP50: bare.p50, seconds: seconds)
            }
        }
    }

    /// One client through Corral's own library (`CorralQEMU`'s `qemuMonitorCommand`).
    static func corralClient(daemon: BenchDaemon? = nil, uri: String? = nil, seconds: Double) async throws -> LoadResult {
        try await CorralConnection.withConnection(to: uri ?? daemon!.uri) { connection in
            let domain = try await connection.lookupDomain(guestName)
            for _ in 0..<50 { _ = try await connection.qemuMonitorCommand(domain, command) }
            return try await DomainBenchmark.timed(seconds: seconds) { _ in
                let reply = try await connection.qemuMonitorCommand(domain, command)
                guard reply.contains("\"return\"") else { throw BenchError(reply) }
            }
        }
    }

    /// One libvirt-python client on each daemon, and a plain Python client on a direct socket.
    /// `directP50`: QEMU's answer on a direct socket from the Swift client, for the ceiling.
    static func python(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, direct: BareQEMU, directP50: Double, seconds: Double) throws {
        guard PythonClient.available else {
            print("  libvirt-python is not installed: no Python figures")
            return
        }
        let bare = try PythonClient.measure(["direct", direct.socketPath(0), String(seconds)])
        print(bare.row("Python: direct QMP socket", 1))
        let corral = try PythonClient.measure(["monitor", daemon.uri, guestName, String(seconds)])
        print(corral.row("libvirt-python → corrald", 1))
        var line = String(format: "  libvirt-python: corrald p50 vs direct %.2fx", corral.p50 / bare.p50)
        if let libvirtd {
            let anchor = try PythonClient.measure(["monitor", libvirtd.uri, guestName, String(seconds)])
            print(anchor.row("libvirt-python → libvirtd", 1))
            line += String(format: "; vs libvirtd throughput %.2fx (goal ≥ 3x), p50 %.2fx lower", corral.throughput / anchor.throughput, anchor.p50 / corral.p50)
            // The ceiling: QEMU's own answer (the direct socket) plus libvirt-python's CPU time,
            // which any daemon in between still costs.
            if let client = corral.clientCPU {
                let qemu = min(directP50, bare.p50)
                line += String(format: "\n  ceiling: QEMU's answer on a direct socket + libvirt-python's CPU (%.0f µs) = %.0f µs, at most %.2fx libvirtd",
                               client * 1e6, (qemu + client) * 1e6, anchor.p50 / (qemu + client))
            }
        }
        print(line)
    }

    /// Runs `clients` threads, each making round trips one after another for `seconds`.
    static func measure(clients: Int, seconds: Double, makeClient: (Int) throws -> any RoundTripClient) throws -> LoadResult {
        let made = try (0..<clients).map { try makeClient($0) }
        for client in made { for _ in 0..<50 { try client.roundTrip() } }  // warm up
        let results = ResultBox(count: clients)
        let group = DispatchGroup()
        let start = Date()
        let deadline = start.addingTimeInterval(seconds)
        for (index, client) in made.enumerated() {
            group.enter()
            let thread = Thread {
                var latencies: [Double] = []
                latencies.reserveCapacity(200_000)
                do {
                    while Date() < deadline {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        try client.roundTrip()
                        latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                    }
                } catch {
                    results.fail("\(error)")
                }
                results.set(index, latencies)
                group.leave()
            }
            thread.start()
        }
        group.wait()
        if let failure = results.failure { throw BenchError("a passthrough client failed: \(failure)") }
        let all = results.all.flatMap { $0 }.sorted()
        return LoadResult(calls: all.count, seconds: Date().timeIntervalSince(start), latencies: all)
    }

    /// Per-thread results, written once each.
    final class ResultBox: @unchecked Sendable {  // guarded by `lock`
        private let lock = NSLock()
        private var values: [[Double]]
        private(set) var failure: String?
        init(count: Int) { values = Array(repeating: [], count: count) }
        func set(_ index: Int, _ latencies: [Double]) { lock.withLock { values[index] = latencies } }
        func fail(_ why: String) { lock.withLock { failure = why } }
        var all: [[Double]] { lock.withLock { values } }
    }
}

/// One blocking client that makes a `query-status` round trip.
protocol RoundTripClient: Sendable {
    func roundTrip() throws
}

/// A bare QEMU with one QMP monitor per client (a QMP monitor serves one client at a time).
final class BareQEMU {
    let process: ChildProcess
    let directory: String
    let monitors: Int

    init(monitors: Int, name: String, extra: [String] = []) throws {
        let directory = NSTemporaryDirectory() + "corral-bench-qmp-\(name)-\(getpid())"
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.monitors = monitors
        let qmp = (0..<monitors).flatMap { ["-qmp", "unix:\(directory)/qmp\($0).sock,server=on,wait=off"] }
        process = try ChildProcess.spawn(
            "/usr/bin/qemu-system-x86_64", ["-machine", "q35", "-accel", "tcg", "-m", "64", "-nodefaults", "-no-user-config", "-display", "none", "-S"] + extra + qmp,
            standardOutput: .null, standardError: .null)
    }

    func socketPath(_ index: Int) -> String { "\(directory)/qmp\(index).sock" }

    func client(_ index: Int) throws -> any RoundTripClient {
        let path = socketPath(index)
        for _ in 0..<500 {
            if let client = try? DirectQMPClient(path: path) { return client }
            usleep(10_000)
        }
        throw BenchError("the bare QEMU's monitor \(path) never answered")
    }

    func stop() {
        process.stop(grace: 2)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// QMP straight to QEMU: a line out, lines in until the reply.
final class DirectQMPClient: RoundTripClient, @unchecked Sendable {  // used by one thread at a time
    private let fd: Int32
    private var reader: BlockingLineReader

    init(path: String) throws {
        fd = try UnixSocket.connect(path)
        reader = BlockingLineReader(fd: fd)
        _ = reader.line()  // greeting
        UnixSocket.writeAll(fd, Array("{\"execute\":\"qmp_capabilities\"}\n".utf8))
        _ = reader.line()
    }

    deinit { close(fd) }

    func roundTrip() throws {
        guard UnixSocket.writeAll(fd, Array((PassthroughBenchmark.command + "\n").utf8)) else { throw BenchError("QEMU closed the monitor") }
        while let line = reader.line() {
            if line.contains("\"return\"") { return }
            if line.contains("\"error\"") { throw BenchError(line) }
        }
        throw BenchError("QEMU closed the monitor")
    }
}

/// A paused transient guest in a libvirt-protocol daemon (corrald or libvirtd), and clients that
/// send it DOMAIN_MONITOR_COMMAND.
final class DaemonGuest: @unchecked Sendable {  // immutable after init
    let socketPath: String
    let domain: RemoteDomain

    init(socketPath: String, xml: String) throws {
        self.socketPath = socketPath
        let client = try BlockingRPCClient(socketPath: socketPath)
        if let stale = try? client.call(Remote.DomainLookupByName.self, .init(name: PassthroughBenchmark.guestName)).dom {
            _ = try? client.call(Remote.DomainDestroy.self, .init(dom: stale))
        }
        // VIR_DOMAIN_START_PAUSED: nothing runs, so the guest costs no CPU during the measurement.
        domain = try client.call(Remote.DomainCreateXML.self, .init(xmlDesc: xml, flags: 1)).dom
    }

    func client() throws -> any RoundTripClient { try MonitorCommandClient(socketPath: socketPath, domain: domain) }

    func destroy() {
        if let client = try? BlockingRPCClient(socketPath: socketPath) { _ = try? client.call(Remote.DomainDestroy.self, .init(dom: domain)) }
    }
}

/// DOMAIN_MONITOR_COMMAND over a blocking RPC connection.
final class MonitorCommandClient: RoundTripClient, @unchecked Sendable {  // used by one thread at a time
    let client: BlockingRPCClient
    let domain: RemoteDomain

    init(socketPath: String, domain: RemoteDomain) throws {
        client = try BlockingRPCClient(socketPath: socketPath)
        self.domain = domain
    }

    func roundTrip() throws {
        let reply = try client.call(Qemu.DomainMonitorCommand.self, .init(dom: domain, cmd: PassthroughBenchmark.command, flags: 0))
        guard reply.result.contains("\"return\"") else { throw BenchError(reply.result) }
    }
}

/// The cheapest RPC round trip, for the daemon's floor.
final class HostnameClient: RoundTripClient, @unchecked Sendable {  // used by one thread at a time
    let client: BlockingRPCClient
    init(socketPath: String) throws { client = try BlockingRPCClient(socketPath: socketPath) }
    func roundTrip() throws { _ = try client.call(Remote.ConnectGetHostname.self, XDRVoid()) }
}

extension LoadResult {
    func row(_ target: String, _ clients: Int) -> String {
        target.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: "%5d  %9.0f  %9.1f %9.1f", clients, throughput, p50 * 1e6, p99 * 1e6)
    }
}

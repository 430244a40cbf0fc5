import CorralClient
import CorralProtocol
import Foundation
import POSIXSupport
import XDR

/// 1,000 defined domains: `virsh list --all`'s calls, lookups by name, dumpxml, and the daemon's
/// memory per definition.
enum DomainBenchmark {
    /// How many domains (`--domains`; set once, before any benchmark runs).
    nonisolated(unsafe) static var count = 1000

    static func xml(_ index: Int) -> String { xml(name: name(index), index: index) }

    static func xml(name: String, index: Int) -> String {
        """
        <domain type='kvm'>
          <name>\(name)</name>
          <memory unit='MiB'>128</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='q35'>hvm</type></os>
          <devices>
            <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/corral-bench/\(index).qcow2'/><target dev='vda' bus='virtio'/></disk>
            <interface type='user'><model type='virtio'/></interface>
            <serial type='pty'/>
          </devices>
        </domain>
        """
    }

    static func name(_ index: Int) -> String { "corral-bench-\(String(format: "%04d", index))" }

    /// One run of defines: the whole run, each define's latency, and the daemon's RSS after
    /// the first define (when asked for its pid).
    struct DefineRun {
        var seconds: Double
        var latencies: [Double]
        var residentKiBAfterFirst = 0
        var p50: Double { latencies.sorted()[latencies.count / 2] }
    }

    /// Defines the domains, one call at a time on one connection.
    static func defineAll(uri: String, pid: Int32? = nil) async throws -> DefineRun {
        try await CorralConnection.withConnection(to: uri) { connection in
            var run = DefineRun(seconds: 0, latencies: [])
            let start = ContinuousClock.now
            for i in 0..<count {
                let t0 = ContinuousClock.now
                _ = try await connection.defineDomain(xml: xml(i))
                run.latencies.append((ContinuousClock.now - t0).seconds)
                if i == 0, let pid { run.residentKiBAfterFirst = residentKiB(pid: pid) }
            }
            run.seconds = (ContinuousClock.now - start).seconds
            return run
        }
    }

    /// CorralClient's cheapest round trip (GET_HOSTNAME), p50: what each define costs at least
    /// besides the daemon's work.
    static func rpcFloor(uri: String) async throws -> Double {
        try await CorralConnection.withConnection(to: uri) { connection in
            var times: [Double] = []
            for _ in 0..<2000 {
                let t0 = ContinuousClock.now
                _ = try await connection.hostname()
                times.append((ContinuousClock.now - t0).seconds)
            }
            return times.sorted()[times.count / 2]
        }
    }

    static func undefineAll(uri: String) async {
        _ = try? await CorralConnection.withConnection(to: uri) { connection in
            for domain in try await connection.listAllDomains() where domain.name.hasPrefix("corral-bench-") {
                try? await connection.undefineDomain(domain)
            }
        }
    }

    struct Figures {
        var listsPerSecond: Double
        var listP99: Double
        var lookups: LoadResult
        var dumps: LoadResult
        /// The client's cheapest round trip (GET_HOSTNAME): what every call costs at least.
        var floor: LoadResult
    }

    /// The same measurement with the minimal blocking client.
    static func measureBlocking(socketPath: String, seconds: Double) async throws -> Figures {
        let client = try BlockingRPCClient(socketPath: socketPath)
        var listTimes: [Double] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        repeat {
            let t0 = ContinuousClock.now
            let domains = try client.call(Remote.ConnectListAllDomains.self, .init(needResults: 1, flags: 3)).domains
            for domain in domains { _ = try client.call(Remote.DomainGetState.self, .init(dom: domain, flags: 0)) }
            listTimes.append((ContinuousClock.now - t0).seconds)
        } while ContinuousClock.now < deadline
        listTimes.sort()
        let lookups = try await timed(seconds: seconds) { i in
            _ = try client.call(Remote.DomainLookupByName.self, .init(name: name(i % count)))
        }
        let handles = try client.call(Remote.ConnectListAllDomains.self, .init(needResults: 1, flags: 3)).domains.filter { $0.name.hasPrefix("corral-bench-") }
        let dumps = try await timed(seconds: seconds) { i in
            _ = try client.call(Remote.DomainGetXMLDesc.self, .init(dom: handles[i % handles.count], flags: 0))
        }
        let floor = try await timed(seconds: seconds / 2) { _ in _ = try client.call(Remote.ConnectGetHostname.self, XDRVoid()) }
        return Figures(
            listsPerSecond: Double(listTimes.count) / listTimes.reduce(0, +), listP99: listTimes[min(listTimes.count - 1, listTimes.count * 99 / 100)],
            lookups: lookups, dumps: dumps, floor: floor)
    }

    static func measure(uri: String, seconds: Double) async throws -> Figures {
        try await CorralConnection.withConnection(to: uri) { connection in
            // What `virsh list --all` does: list, then the state of each domain, one after another.
            var listTimes: [Double] = []
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            repeat {
                let t0 = ContinuousClock.now
                let domains = try await connection.listAllDomains(flags: 3)
                for domain in domains { _ = try await connection.domainState(domain) }
                listTimes.append((ContinuousClock.now - t0).seconds)
            } while ContinuousClock.now < deadline
            listTimes.sort()
            let total = listTimes.reduce(0, +)
            let lookups = try await timed(seconds: seconds) { i in
                _ = try await connection.call(Remote.DomainLookupByName.self, .init(name: name(i % count)))
            }
            let handles = try await connection.listAllDomains(flags: 3).filter { $0.name.hasPrefix("corral-bench-") }
            let dumps = try await timed(seconds: seconds) { i in
                _ = try await connection.domainXML(handles[i % handles.count])
            }
            let floor = try await timed(seconds: seconds / 2) { _ in _ = try await connection.hostname() }
            return Figures(
                listsPerSecond: Double(listTimes.count) / total, listP99: listTimes[min(listTimes.count - 1, listTimes.count * 99 / 100)],
                lookups: lookups, dumps: dumps, floor: floor)
        }
    }

    static func timed(seconds: Double, _ body: (Int) async throws -> Void) async throws -> LoadResult {
        var latencies: [Double] = []
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int(seconds * 1000))
        var i = 0
        while ContinuousClock.now < deadline {
            let t0 = ContinuousClock.now
            try await body(i)
            latencies.append((ContinuousClock.now - t0).seconds)
            i += 1
        }
        return LoadResult(calls: latencies.count, seconds: (ContinuousClock.now - start).seconds, latencies: latencies.sorted())
    }

    /// Seconds until `directory` holds `count` definition files (at most 30 s).
    static func waitForDefinitionFiles(in directory: String, count: Int) -> Double {
        let start = ContinuousClock.now
        while (ContinuousClock.now - start) < .seconds(30) {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasSuffix(".xml") && !$0.hasPrefix(".") }.count ?? 0
            if files >= count { break }
            usleep(1000)
        }
        return (ContinuousClock.now - start).seconds
    }

    static func residentKiB(pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    static func run(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, seconds: Double) async throws {
        print("Domain definitions: \(count) domains defined in each daemon")
        let before = residentKiB(pid: daemon.process.pid)
        let ours = try await defineAll(uri: daemon.uri, pid: daemon.process.pid)
        let after = residentKiB(pid: daemon.process.pid)
        // corrald answers a define once its journal holds it; the definitions' own files are
        // written when the journal is idle. How long after the last answer they all are there:
        let filesWritten = waitForDefinitionFiles(in: daemon.directory + "/state/domains", count: count)
        print(String(format: "  define x%d: corrald %.2f s", count, ours.seconds), terminator: "")
        var theirDefines: DefineRun?
        if let libvirtd {
            await undefineAll(uri: libvirtd.uri)
            theirDefines = try await defineAll(uri: libvirtd.uri)
            print(String(format: ", libvirtd %.2f s, ratio %.2fx", theirDefines!.seconds, theirDefines!.seconds / ours.seconds), terminator: "")
        }
        print("   goal ≥ 3x")
        print(String(format: "    corrald's definition files all written %.0f ms after its last define answered (its journal held them until then)", filesWritten * 1000))
        // Memory per domain is the growth from the first definition to the last: the first
        // connection and define grow the daemon once (thread pools, buffers, caches), which is
        // printed apart.
        print(String(format: "  corrald memory per defined domain: %.1f KiB (RSS %d → %d KiB from the first to the %dth)   goal < 20 KiB",
                     Double(after - ours.residentKiBAfterFirst) / Double(count - 1), ours.residentKiBAfterFirst, after, count))
        print(String(format: "    once, for the first connection and define: %d KiB", ours.residentKiBAfterFirst - before))
        // The ceiling: a define stores the definition durably before it answers. Measured here
        // without a daemon, on the state directory's filesystem, with files of the stored size.
        let stored = (try? FileManager.default.attributesOfItem(atPath: daemon.directory + "/state/domains/\(name(0)).xml")[.size] as? Int) ?? 2048
        // At the defines' cadence: the disk idles between them while the daemon parses and the
        // answer travels (see DurableWriteFloor.measure's `pause`).
        let cadence = Duration.microseconds(300)
        let libvirtWrite = DurableWriteFloor.measure(.fileFlush, parent: daemon.directory, size: stored, count: 200, pause: cadence)
        let corralWrite = DurableWriteFloor.measure(.journalAppend, parent: daemon.directory, size: stored, count: 200, pause: cadence)
        let corralWriteBackToBack = DurableWriteFloor.measure(.journalAppend, parent: daemon.directory, size: stored, count: 200)
        let rpc = try await rpcFloor(uri: daemon.uri)
        print(String(format: "    define p50: corrald %.0f µs", ours.p50 * 1e6), terminator: "")
        if let theirDefines { print(String(format: ", libvirtd %.0f µs, ratio %.2fx", theirDefines.p50 * 1e6, theirDefines.p50 / ours.p50), terminator: "") }
        print("")
        let parse = DefineParseCost.measure(count: 2000)
        print(String(format: "    parsing, checking, normalising and formatting the definition (in this process): %.0f µs", parse * 1e6))
        print(String(format: "    storing %d bytes durably, no daemon, 0.3 ms apart: libvirtd's way (a new file, flushed, renamed) %.0f µs, corrald's (a record appended to its journal, flushed) %.0f µs (%.0f µs back to back); RPC floor %.0f µs",
                     stored, libvirtWrite * 1e6, corralWrite * 1e6, corralWriteBackToBack * 1e6, rpc * 1e6))
        if let theirDefines {
            print(String(format: "    a daemon doing nothing else would be at most %.2fx libvirtd (libvirtd's way), %.2fx (corrald's); corrald takes %.2fx its floor",
                         theirDefines.p50 / (libvirtWrite + rpc), theirDefines.p50 / (corralWrite + rpc), ours.p50 / (corralWrite + rpc)))
            // With corrald's own parse (as measured here, on a warm thread) on top: the rest
            // of a define is the call's own work (its frame, its job, its record) and a colder
            // cache; the journal write is submitted by the event loop itself (no thread hop).
            let floor = parse + corralWrite + rpc
            print(String(format: "    with the parse too: at most %.2fx libvirtd; corrald takes %.2fx that (%.0f µs more: the call's own work and a colder cache)",
                         theirDefines.p50 / floor, ours.p50 / floor, (ours.p50 - floor) * 1e6))
        }
        var theirs: Figures?
        func row(_ what: String, _ a: Double, _ b: Double?, unit: String) {
            var line = what.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "corrald %9.1f %@", a, unit)
            if let b { line += String(format: "   libvirtd %9.1f %@   ratio %.2fx", b, unit, a / b) }
            print("  " + line)
        }
        for client in ["CorralClient (async)", "minimal blocking client"] {
            print("  measured with \(client):")
            let blocking = client.hasPrefix("minimal")
            let ours = blocking ? try await measureBlocking(socketPath: daemon.socketPath, seconds: seconds) : try await measure(uri: daemon.uri, seconds: seconds)
            theirs = nil
            if libvirtd != nil {
                do {
                    theirs = blocking
                        ? try await measureBlocking(socketPath: "/run/libvirt/libvirt-sock", seconds: seconds)
                        : try await measure(uri: libvirtd!.uri, seconds: seconds)
                } catch {
                    print("  libvirtd measurement failed: \(error)")
                }
            }
            row("list --all (LIST_ALL + GET_STATE each)", ours.listsPerSecond, theirs?.listsPerSecond, unit: "lists/s")
            row("  p99 per list", ours.listP99 * 1000, theirs.map { $0.listP99 * 1000 }, unit: "ms")
            row("DOMAIN_LOOKUP_BY_NAME", ours.lookups.throughput, theirs?.lookups.throughput, unit: "calls/s")
            row("  p99", ours.lookups.p99 * 1e6, theirs.map { $0.lookups.p99 * 1e6 }, unit: "µs")
            row("DOMAIN_GET_XML_DESC (dumpxml)", ours.dumps.throughput, theirs?.dumps.throughput, unit: "calls/s")
            row("  p99", ours.dumps.p99 * 1e6, theirs.map { $0.dumps.p99 * 1e6 }, unit: "µs")
            // The ceiling: a daemon answering in no time still costs this client's round trip.
            if let theirs {
                print(String(format: "    RPC floor (GET_HOSTNAME) p50 %.1f µs: at best %.2fx libvirtd for lookups, %.2fx for dumpxml (p50); corrald takes %.2fx, %.2fx its floor",
                             ours.floor.p50 * 1e6, theirs.lookups.p50 / ours.floor.p50, theirs.dumps.p50 / ours.floor.p50,
                             ours.lookups.p50 / ours.floor.p50, ours.dumps.p50 / ours.floor.p50))
            }
        }
        if PythonClient.available {
            print("  measured with libvirt-python, one connection (goal: corrald ≥ 3x libvirtd):")
            let sequences: [(String, [String])] = [
                ("virsh list --all's calls", ["list", "SECONDS", "corral-bench-"]),
                ("virsh dominfo for every domain", ["dominfo", "SECONDS", "corral-bench-"]),
                ("LIST_ALL_DOMAINS, each of 15 flags", ["listall", "SECONDS"]),
            ]
            // The floor: libvirt-python's cheapest round trip to corrald (GET_HOSTNAME), which
            // each RPC of a sequence costs at the least, client and transport included.
            let floor = try PythonClient.measure(["hostname", daemon.uri, String(seconds)])
            print(String(format: "  libvirt-python's RPC floor to corrald (getHostname): p50 %.1f µs", floor.p50 * 1e6))
            for (what, arguments) in sequences {
                func run(_ uri: String) throws -> LoadResult {
                    var full = arguments.map { $0 == "SECONDS" ? String(seconds) : $0 }
                    full.insert(uri, at: 1)
                    return try PythonClient.measure(full)
                }
                let ours = try run(daemon.uri)
                let theirs = try libvirtd.map { try run($0.uri) }
                row(what, ours.p50 * 1000, theirs.map { $0.p50 * 1000 }, unit: "ms")
                if let theirs { print(String(format: "    corrald %.2fx faster (p50)", theirs.p50 / ours.p50)) }
                // The ceilings: libvirt-python's own CPU time per sequence, which a daemon that
                // answered in no time at all would still cost; and the sequence's RPCs each at
                // the floor, the best corrald can do for this client.
                if let theirs, let client = ours.clientCPU, client > 0 {
                    print(String(format: "    client CPU %.1f ms of it: a daemon taking no time would be at most %.2fx libvirtd", client * 1000, theirs.p50 / client))
                }
                if let theirs, let rpcs = ours.rpcsPerCall, rpcs > 0 {
                    let best = Double(rpcs) * floor.p50
                    print(String(format: "    %d RPCs at the floor: %.1f ms, at most %.2fx libvirtd; corrald takes %.2fx its floor", rpcs, best * 1000, theirs.p50 / best, ours.p50 / best))
                }
            }
        }
        try await measureRates(daemon: daemon, libvirtd: libvirtd, seconds: seconds)
        if let libvirtd { await undefineAll(uri: libvirtd.uri) }
    }

    /// The rates alone (`--only domain-rates`): the domains defined, then ``measureRates``.
    static func runRates(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, seconds: Double) async throws {
        print("Domain rates: \(count) domains defined in each daemon")
        _ = try await defineAll(uri: daemon.uri)
        if let libvirtd {
            await undefineAll(uri: libvirtd.uri)
            _ = try await defineAll(uri: libvirtd.uri)
        }
        try await measureRates(daemon: daemon, libvirtd: libvirtd, seconds: seconds)
        if let libvirtd { await undefineAll(uri: libvirtd.uri) }
    }

    /// Connections that call at once in ``measureRates``.
    static let loadConnections = 16

    /// New domains each connection defines in the define burst of ``measureRates``: with 1,000
    /// domains and 16 connections, 800 definitions, within one segment of corrald's journal
    /// (fewer with `--domains` below 1,000: the smoke run's).
    static var burstDefinesPerConnection: Int { max(1, min(50, count / 20)) }

    /// The daemons' rates: dumpxml and define calls per second with ``loadConnections``
    /// connections calling at once (CorralClient, one call in flight on each), so that the
    /// daemon's own cost per call decides the rate rather than one client's round trip.
    /// Defines make new domains (`corral-bench-load-…`), the same definition as the others':
    /// a burst (``burstDefinesPerConnection`` on each connection), then for `seconds`. Held that
    /// long, a define rate is bounded by the filesystem making a file per definition, which
    /// both daemons do (corrald's journal writer after the answer, libvirtd before it).
    static func measureRates(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, seconds: Double) async throws {
        print("  rates with \(loadConnections) connections calling at once (CorralClient), goal ≥ 3x libvirtd:")
        func handles(_ uri: String) async throws -> [DomainHandle] {
            try await CorralConnection.withConnection(to: uri) { try await $0.listAllDomains(flags: 3) }.filter { $0.name.hasPrefix("corral-bench-") }
        }
        func dumps(_ uri: String) async throws -> LoadResult {
            let domains = try await handles(uri)
            return try await RPCLoad.measure(uri: uri, connections: loadConnections, seconds: seconds, warmUpCalls: 20) { connection, index, call in
                _ = try await connection.domainXML(domains[(index * 61 + call) % domains.count])
            }
        }
        func defines(_ prefix: String, callsPerConnection: Int?) -> (String) async throws -> LoadResult {
            { uri in
                try await RPCLoad.measure(uri: uri, connections: loadConnections, seconds: seconds, callsPerConnection: callsPerConnection, warmUpCalls: 1) { connection, index, call in
                    _ = try await connection.defineDomain(xml: xml(name: "corral-bench-\(prefix)-\(index)-\(call)", index: call))
                }
            }
        }
        let measurements: [(String, (String) async throws -> LoadResult)] = [
            ("DOMAIN_GET_XML_DESC (dumpxml)", dumps),
            ("DOMAIN_DEFINE_XML, a burst of \(loadConnections * burstDefinesPerConnection) new", defines("burst", callsPerConnection: burstDefinesPerConnection)),
            ("DOMAIN_DEFINE_XML, new ones for \(seconds) s", defines("load", callsPerConnection: nil)),
        ]
        for (what, measure) in measurements {
            let ours = try await measure(daemon.uri)
            var line = "  " + what.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "corrald %9.1f calls/s (p50 %.0f µs)", ours.throughput, ours.p50 * 1e6)
            if let libvirtd {
                let theirs = try await measure(libvirtd.uri)
                line += String(format: "   libvirtd %9.1f calls/s (p50 %.0f µs)   ratio %.2fx", theirs.throughput, theirs.p50 * 1e6, ours.throughput / theirs.throughput)
            }
            print(line)
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

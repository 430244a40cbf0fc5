import CorralProtocol
import Foundation
import POSIXSupport

/// The daemon's own memory: a fresh daemon idle, then with 1,000 definitions, then with 20
/// running guests; libvirtd measured the same way as the anchor.
enum MemoryBenchmark {
    static var definitions: Int { DomainBenchmark.count }
    static let guestPrefix = "corral-bench-memory-"

    struct Figures {
        var idleKiB: Int
        var definedKiB: Int
        var runningKiB: Int
        var perDefinitionKiB: Double { Double(definedKiB - idleKiB) / Double(definitions) }
        func perGuestKiB(_ guests: Int) -> Double { Double(runningKiB - definedKiB) / Double(guests) }
    }

    static func run(corrald: String, libvirtd: BenchLibvirtd?, guests: Int) async throws {
        print("Daemon memory (RSS): idle, with \(definitions) definitions, with \(guests) running guests")
        let daemon = try BenchDaemon(binary: corrald)
        defer { daemon.stop() }
        let ours = try await measure(uri: daemon.uri, socketPath: daemon.socketPath, pid: daemon.process.pid, guests: guests)
        var theirs: Figures?
        if let libvirtd, let pid = libvirtd.pid {
            theirs = try await measure(uri: libvirtd.uri, socketPath: "/run/libvirt/libvirt-sock", pid: pid, guests: guests)
        }
        func row(_ what: String, _ a: Double, _ b: Double?, goal: String) {
            var line = "  " + what.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: "corrald %8.1f KiB", a)
            if let b { line += String(format: "   libvirtd %8.1f KiB", b) }
            print(line + "   goal " + goal)
        }
        row("idle", Double(ours.idleKiB), theirs.map { Double($0.idleKiB) }, goal: "≤ 15360 KiB")
        row("per defined domain", ours.perDefinitionKiB, theirs?.perDefinitionKiB, goal: "≤ 64 KiB")
        row("per running guest", ours.perGuestKiB(guests), theirs?.perGuestKiB(guests), goal: "≤ 256 KiB")
    }

    /// Idle RSS (no domain of the benchmark's), then after defining, then after starting guests;
    /// everything it made is removed again.
    static func measure(uri: String, socketPath: String, pid: Int32, guests: Int) async throws -> Figures {
        await DomainBenchmark.undefineAll(uri: uri)
        let client = try BlockingRPCClient(socketPath: socketPath)
        destroyGuests(client)
        let idle = settledResidentKiB(pid: pid)
        _ = try await DomainBenchmark.defineAll(uri: uri)
        let defined = settledResidentKiB(pid: pid)
        var started: [RemoteDomain] = []
        defer {
            for domain in started { _ = try? client.call(Remote.DomainDestroy.self, .init(dom: domain)) }
        }
        for index in 0..<guests {
            let xml = "<domain type='qemu'><name>\(guestPrefix)\(index)</name><memory unit='MiB'>32</memory><os><type arch='x86_64' machine='q35'>hvm</type></os>"
                + "<devices><memballoon model='none'/></devices></domain>"
            // VIR_DOMAIN_START_PAUSED: the guests cost no CPU while memory is read.
            started.append(try client.call(Remote.DomainCreateXML.self, .init(xmlDesc: xml, flags: 1)).dom)
        }
        let running = settledResidentKiB(pid: pid)
        for domain in started { _ = try? client.call(Remote.DomainDestroy.self, .init(dom: domain)) }
        started = []
        await DomainBenchmark.undefineAll(uri: uri)
        return Figures(idleKiB: idle, definedKiB: defined, runningKiB: running)
    }

    static func destroyGuests(_ client: BlockingRPCClient) {
        for index in 0..<100 {
            guard let domain = try? client.call(Remote.DomainLookupByName.self, .init(name: "\(guestPrefix)\(index)")).dom else { continue }
            _ = try? client.call(Remote.DomainDestroy.self, .init(dom: domain))
        }
    }

    /// RSS once the daemon has had a moment to finish what the last calls started.
    static func settledResidentKiB(pid: Int32) -> Int {
        usleep(1_500_000)
        return DomainBenchmark.residentKiB(pid: pid)
    }
}

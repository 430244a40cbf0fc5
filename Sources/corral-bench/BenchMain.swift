import ArgumentParser
import CorralClient
import CorralProtocol
import Foundation
import NIOCore
import NIOPosix

/// `corral-bench`: Corral against its anchors, measured with the same client code in one run.
@main
enum BenchEntry {
    static func main() async {
        // Run Swift concurrency on NIO's event loops, so a client call does not hop between a
        // concurrency thread and the connection's event loop. The same client serves both daemons.
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await BenchMain.main()
    }
}

struct BenchMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corral-bench",
        abstract: "Measure corrald against libvirtd (RPC calls per second and latency), in one run."
    )

    @Option(help: "Seconds per measurement.") var seconds: Double = 3
    @Option(help: "The corrald binary (default: next to this program).") var corrald: String?
    @Option(help: "libvirtd's URI; an already running libvirtd is used, else one is started with Scripts/test-libvirtd.sh.")
    var libvirtdURI: String = "qemu:///system"
    @Flag(help: "Do not measure libvirtd.") var skipLibvirtd = false
    @Option(help: "Concurrent connections to measure, comma-separated.") var connections: String = "1,16"
    @Option(help: "Which benchmarks (comma-separated): all, rpc, domains, domain-rates (the domain benchmark's rates alone), define-parse (no daemon), start, qemu-config, passthrough, storage, stats, console, save, snapshot, memory, network, migration, tls.") var only: String = "all"
    @Option(help: "Running guests for the domain statistics benchmark.") var statsGuests: Int = 50
    @Option(help: "Running guests for the memory benchmark.") var memoryGuests: Int = 20
    @Option(help: "Domains the domain and memory benchmarks define.") var domains: Int = 1000
    @Option(help: "Size of the storage benchmark's images, MiB.") var storageMib: Int = 2048
    @Option(help: "Where the storage benchmark's images and pools live (default: the temporary directory).") var storageDir: String = NSTemporaryDirectory()
    @Option(help: "Concurrent passthrough clients to measure, comma-separated.") var passthroughClients: String = "1,8,32"
    @Option(help: "Passthrough monitors of the passthrough benchmark's guest in corrald (default: the daemon's default).")
    var passthroughMonitors: Int?
    @Option(help: "Guest starts to time for each target.") var starts: Int = 7
    @Option(help: "Where the save and snapshot benchmarks' images go (default: /dev/shm when it is there).")
    var saveImageDir: String = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()

    func validate() throws {
        guard (1...100_000).contains(domains) else { throw ValidationError("--domains must be from 1 to 100000") }
    }

    /// Whether `--only` selects `benchmark`.
    func selected(_ benchmark: String) -> Bool {
        let chosen = only.split(separator: ",").map(String.init)
        return chosen.contains("all") || chosen.contains(benchmark)
    }

    func run() async throws {
        DomainBenchmark.count = domains
        if selected("qemu-config") {
            try ConfigBenchmark.run()
            print("")
        }
        if only == "define-parse" {
            print(String(format: "Parsing, checking, normalising and formatting the define benchmark's definition: %.0f µs", DefineParseCost.measure(count: 5000) * 1e6))
            return
        }
        guard only != "qemu-config" else { return }
        let daemon = try BenchDaemon(binary: corrald ?? Self.sibling("corrald"))
        defer {
            daemon.stop()
            BenchDaemon.removeProbeCache()
        }
        var libvirtd: BenchLibvirtd?
        if !skipLibvirtd {
            libvirtd = BenchLibvirtd.start()
            if libvirtd == nil { print("libvirtd: not available; measuring corrald alone") }
        }
        defer { libvirtd?.stop() }
        if selected("rpc") {
            try await runRPC(daemon: daemon, libvirtd: libvirtd)
            print("")
        }
        if selected("domains") {
            try await DomainBenchmark.run(daemon: daemon, libvirtd: libvirtd, seconds: seconds)
            print("")
        }
        if selected("domain-rates") && !selected("domains") {
            try await DomainBenchmark.runRates(daemon: daemon, libvirtd: libvirtd, seconds: seconds)
            print("")
        }
        if selected("passthrough") {
            try await PassthroughBenchmark.run(
                daemon: daemon, libvirtd: libvirtd, seconds: seconds, clients: passthroughClients.split(separator: ",").compactMap { Int($0) },
                monitors: passthroughMonitors)
            print("")
        }
        if selected("start") {
            try await StartBenchmark.run(daemon: daemon, libvirtd: libvirtd, runs: starts)
            print("")
        }
        if selected("storage") {
            try await StorageBenchmark.run(daemon: daemon, libvirtd: libvirtd, sizeMiB: storageMib, directory: storageDir)
            print("")
        }
        if selected("stats") {
            try await DomainStatsBenchmark.run(daemon: daemon, libvirtd: libvirtd, guests: statsGuests, seconds: seconds, directory: storageDir)
            print("")
        }
        if selected("console") {
            try await ConsoleBenchmark.run(daemon: daemon, libvirtd: libvirtd, directory: storageDir)
            print("")
        }
        if selected("save") {
            try await SaveBenchmark.run(daemon: daemon, libvirtd: libvirtd, directory: storageDir, images: saveImageDir)
            print("")
        }
        if selected("snapshot") {
            try await SnapshotBenchmark.run(daemon: daemon, libvirtd: libvirtd, directory: storageDir, images: saveImageDir)
            print("")
        }
        if selected("memory") {
            try await MemoryBenchmark.run(corrald: corrald ?? Self.sibling("corrald"), libvirtd: libvirtd, guests: memoryGuests)
            print("")
        }
        if selected("network") {
            try await NetworkBenchmark.run(corrald: corrald ?? Self.sibling("corrald"), libvirtd: libvirtd, runs: 5)
            print("")
        }
        if selected("migration") {
            try await MigrationBenchmark.run(corrald: corrald ?? Self.sibling("corrald"), libvirtd: libvirtd, directory: storageDir)
            print("")
        }
        if selected("tls") {
            try await TLSRPCBenchmark.run(corrald: corrald ?? Self.sibling("corrald"), libvirtd: libvirtd, seconds: seconds, connections: 16)
        }
    }

    func runRPC(daemon: BenchDaemon, libvirtd: BenchLibvirtd?) async throws {
        let counts = connections.split(separator: ",").compactMap { Int($0) }
        print("RPC round trips (\(seconds) s each, one call in flight per connection)")
        let ourDomains = try await CorralConnection.withConnection(to: daemon.uri) { try await $0.listAllDomains().count }
        var line = "domains defined: corrald \(ourDomains)"
        if let libvirtd {
            line += ", libvirtd \(try await CorralConnection.withConnection(to: libvirtd.uri) { try await $0.listAllDomains().count })"
        }
        print(line)
        print("call                       conns  target      calls/s     p50 µs    p99 µs")
        for call in RPCCall.allCases {
            for count in counts {
                let ours = try await RPCLoad.measure(uri: daemon.uri, call: call, connections: count, seconds: seconds)
                print(ours.row(call: call, connections: count, target: "corrald"))
                if let libvirtd {
                    let theirs = try await RPCLoad.measure(uri: libvirtd.uri, call: call, connections: count, seconds: seconds)
                    print(theirs.row(call: call, connections: count, target: "libvirtd"))
                    print(String(format: "  ratio corrald/libvirtd: throughput %.2fx, p99 %.2fx lower", ours.throughput / theirs.throughput, theirs.p99 / ours.p99))
                }
            }
        }
    }

    static func sibling(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }
}

import CorralClient
import CorralProtocol
import Foundation

/// The calls the RPC benchmark measures.
enum RPCCall: String, CaseIterable {
    /// A cheap call: `CONNECT_GET_HOSTNAME`.
    case hostname = "CONNECT_GET_HOSTNAME"
    /// `CONNECT_LIST_ALL_DOMAINS` with all flags.
    case listAll = "CONNECT_LIST_ALL_DOMAINS"

    func perform(on connection: CorralConnection) async throws {
        switch self {
        case .hostname: _ = try await connection.hostname()
        case .listAll: _ = try await connection.listAllDomains(flags: 3)
        }
    }
}

/// The outcome of one measurement.
struct LoadResult {
    var calls: Int
    var seconds: Double
    /// Median and 99th percentile latency, in seconds.
    var p50: Double
    var p99: Double
    /// The client's own CPU time per call (median, seconds), when the client measures it: the
    /// part of each call no daemon can make faster.
    var clientCPU: Double?
    /// The RPCs one call (a sequence) makes, when the client counts them.
    var rpcsPerCall: Int?

    /// From every call's latency (seconds, sorted).
    init(calls: Int, seconds: Double, latencies: [Double]) {
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        self.init(calls: calls, seconds: seconds, p50: percentile(0.50), p99: percentile(0.99))
    }

    init(calls: Int, seconds: Double, p50: Double, p99: Double) {
        self.calls = calls
        self.seconds = seconds
        self.p50 = p50
        self.p99 = p99
    }

    var throughput: Double { Double(calls) / seconds }

    func row(call: RPCCall, connections: Int, target: String) -> String {
        let name = call.rawValue.padding(toLength: 26, withPad: " ", startingAt: 0)
        let who = target.padding(toLength: 9, withPad: " ", startingAt: 0)
        return name + String(format: "%5d  ", connections) + who + String(format: " %9.0f  %9.1f %9.1f", throughput, p50 * 1e6, p99 * 1e6)
    }
}

/// Drives `connections` connections, each making one call after another, for `seconds`.
enum RPCLoad {
    static func measure(uri: String, call: RPCCall, connections: Int, seconds: Double) async throws -> LoadResult {
        try await measure(uri: uri, connections: connections, seconds: seconds, warmUpCalls: 20) { connection, _, _ in
            try await call.perform(on: connection)
        }
    }

    /// Opens `connections` connections and drives each with `body(connection, its index, the
    /// call's index on it)`, one call after another, for `seconds` (or until each made
    /// `callsPerConnection`), after `warmUpCalls` calls on each (not measured; their call
    /// indexes come first).
    static func measure(
        uri: String, connections: Int, seconds: Double, callsPerConnection: Int? = nil, warmUpCalls: Int,
        _ body: @escaping @Sendable (CorralConnection, Int, Int) async throws -> Void
    ) async throws -> LoadResult {
        var opened: [CorralConnection] = []
        for _ in 0..<connections { opened.append(try await CorralConnection.connect(to: uri)) }
        defer { for c in opened { Task { await c.close() } } }
        for (index, c) in opened.enumerated() { for call in 0..<warmUpCalls { try await body(c, index, call) } }
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int(seconds * 1000))
        let perConnection = try await withThrowingTaskGroup(of: [Double].self) { group in
            for (index, connection) in opened.enumerated() {
                group.addTask {
                    var latencies: [Double] = []
                    latencies.reserveCapacity(100_000)
                    var call = warmUpCalls
                    while callsPerConnection.map({ call - warmUpCalls < $0 }) ?? (ContinuousClock.now < deadline) {
                        let t0 = ContinuousClock.now
                        try await body(connection, index, call)
                        let elapsed = ContinuousClock.now - t0
                        latencies.append(Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
                        call += 1
                    }
                    return latencies
                }
            }
            var all: [[Double]] = []
            for try await l in group { all.append(l) }
            return all
        }
        let elapsed = ContinuousClock.now - start
        let total = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let latencies = perConnection.flatMap { $0 }.sorted()
        return LoadResult(calls: latencies.count, seconds: total, latencies: latencies)
    }
}

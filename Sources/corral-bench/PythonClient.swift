import Foundation
import POSIXSupport

/// `Scripts/bench-python-client.py`: the same calls from libvirt-python (and a plain Python QMP
/// socket client), so the figures are also those a Python user sees.
enum PythonClient {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Scripts/bench-python-client.py").path

    /// Whether libvirt-python is there to run.
    static var available: Bool {
        (try? ChildProcess.run("/usr/bin/python3", ["-c", "import libvirt, libvirt_qemu"]).status) == 0
    }

    /// Runs one mode of the script; its figures as a ``LoadResult`` (latencies: p50 and p99 only).
    static func measure(_ arguments: [String]) throws -> LoadResult {
        let output = try ChildProcess.run("/usr/bin/python3", [script] + arguments, timeout: 300)
        guard output.status == 0, let line = output.standardOutput.split(separator: "\n").last,
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let calls = object["calls"] as? Int, let seconds = object["seconds"] as? Double,
            let p50 = object["p50"] as? Double, let p99 = object["p99"] as? Double
        else {
            throw BenchError("the Python client (\(arguments.first ?? "")) failed: \(output.standardError.suffix(400))")
        }
        var result = LoadResult(calls: calls, seconds: seconds, p50: p50, p99: p99)
        result.clientCPU = object["cpu_p50"] as? Double
        result.rpcsPerCall = object["rpcs"] as? Int
        return result
    }
}

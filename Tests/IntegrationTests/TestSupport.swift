import Foundation
import POSIXSupport
import Testing

/// Where the built executables are: `$CORRAL_BIN_DIR`, else `.build/debug` of this package.
enum BuiltProducts {
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var directory: String {
        ProcessInfo.processInfo.environment["CORRAL_BIN_DIR"] ?? packageRoot.appendingPathComponent(".build/debug").path
    }

    static func path(_ name: String) throws -> String {
        let path = directory + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSetupError("\(path) is missing: run `swift build` first (Scripts/test.sh does)")
        }
        return path
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program to completion and returns its status and output (killed after 5 minutes).
@discardableResult
func runProgram(_ path: String, _ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String, error: String) {
    let result = try ChildProcess.run(path, arguments, input: input, timeout: 300)
    return (result.status, result.standardOutput, result.standardError)
}

/// A `corrald` started for one test, in its own temporary directories, stopped on `stop()`.
final class DaemonUnderTest: @unchecked Sendable {  // immutable after init but for `process`, which Foundation locks
    let directory: String
    let socket: String
    let readOnlySocket: String
    let process: ChildProcess

    var uri: String { "qemu+unix:///system?socket=\(socket)" }
    var readOnlyURI: String { "qemu+unix:///system?socket=\(readOnlySocket)" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("corral-test-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/sock"
        readOnlySocket = directory + "/sock-ro"
        let logPath = directory + "/corrald.log"
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw TestSetupError("cannot open \(logPath)") }
        defer { close(log) }
        process = try ChildProcess.spawn(
            try BuiltProducts.path("corrald"),
            [
                "--socket", socket, "--socket-ro", readOnlySocket, "--state-dir", directory + "/state", "--run-dir", directory + "/run",
                "--log-level", "warning", "--no-default-network",
            ],
            standardOutput: .descriptor(log), standardError: .descriptor(log))
        let deadline = Date().addingTimeInterval(20)
        while !(FileManager.default.fileExists(atPath: socket) && FileManager.default.fileExists(atPath: readOnlySocket)) {
            guard process.isRunning, Date() < deadline else {
                throw TestSetupError("corrald did not start: \((try? String(contentsOfFile: directory + "/corrald.log", encoding: .utf8)) ?? "")")
            }
            usleep(20_000)
        }
    }

    func stop() {
        process.stop(grace: 10)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A libvirtd for the tests: an already running one is used as it is; otherwise one is started
/// with `Scripts/test-libvirtd.sh` and stopped afterwards.
enum TestLibvirtd {
    static func start() throws -> Bool {
        let script = BuiltProducts.packageRoot.appendingPathComponent("Scripts/test-libvirtd.sh").path
        let result = try runProgram("/bin/bash", [script, "start"])
        guard result.status == 0 else { throw TestSetupError("could not start libvirtd: \(result.error)") }
        return result.output.contains("started")
    }

    static func stop(started: Bool) {
        guard started else { return }
        let script = BuiltProducts.packageRoot.appendingPathComponent("Scripts/test-libvirtd.sh").path
        _ = try? runProgram("/bin/bash", [script, "stop"])
    }
}

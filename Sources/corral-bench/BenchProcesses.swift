import Foundation

/// A `corrald` started for the benchmark in a temporary directory.
final class BenchDaemon {
    let directory: String
    let process = Process()
    var uri: String { "qemu+unix:///system?socket=\(directory)/sock" }
    var socketPath: String { directory + "/sock" }

    init(binary: String) throws {
        directory = NSTemporaryDirectory() + "corral-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--socket", directory + "/sock", "--socket-ro", directory + "/sock-ro", "--state-dir", directory + "/state",
                             "--run-dir", directory + "/run", "--log-level", "warning"]
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: directory + "/sock") {
            guard process.isRunning, Date() < deadline else { throw BenchError("corrald did not start") }
            usleep(20_000)
        }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// libvirtd for the benchmark: a running one is used as is, else one is started and stopped.
struct BenchLibvirtd {
    var uri = "qemu:///system"
    var started: Bool
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Scripts/test-libvirtd.sh").path

    static func start() -> BenchLibvirtd? {
        guard let output = try? shell(["/bin/bash", script, "start"]) else { return nil }
        return BenchLibvirtd(started: output.contains("started"))
    }

    func stop() {
        if started { _ = try? Self.shell(["/bin/bash", Self.script, "stop"]) }
    }

    static func shell(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("\(arguments) failed") }
        return String(decoding: data, as: UTF8.self)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

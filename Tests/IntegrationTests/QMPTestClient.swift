import Foundation

/// A minimal blocking QMP client for tests: connect, negotiate, execute, read replies.
final class QMPTestClient {
    private let socket: RawSocket
    private var buffer: [UInt8] = []
    private(set) var greeting: [String: Any] = [:]

    /// Connects to `path`, waiting up to `timeout` while `alive()` holds (the process serving it runs).
    init(path: String, timeout: TimeInterval = 20, while alive: () -> Bool = { true }) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var connected: RawSocket?
        while connected == nil {
            connected = try? RawSocket(path: path)
            if connected == nil {
                guard Date() < deadline, alive() else { throw TestSetupError("QMP socket \(path) never accepted a connection") }
                usleep(20_000)
            }
        }
        socket = connected!
        // A QEMU that locks its memory (`mem-lock=on`) or preallocates it answers once every
        // page is in, seconds on a slow host: its replies get the whole timeout, not 5 s.
        socket.setReceiveTimeout(seconds: Int(timeout.rounded(.up)))
        greeting = try readMessage()
        _ = try execute("qmp_capabilities")
    }

    func readMessage() throws -> [String: Any] {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { continue }
                return object
            }
            let chunk = socket.receive(count: 1)
            guard !chunk.isEmpty else { throw TestSetupError("QMP connection closed") }
            buffer += chunk
        }
    }

    /// Runs `command`; returns its `return` value, skipping events; a QMP error throws.
    func execute(_ command: String, _ arguments: [String: Any]? = nil) throws -> Any {
        var message: [String: Any] = ["execute": command]
        if let arguments { message["arguments"] = arguments }
        socket.send(Array(try JSONSerialization.data(withJSONObject: message)) + [UInt8(ascii: "\n")])
        while true {
            let reply = try readMessage()
            if reply["event"] != nil { continue }
            if let error = reply["error"] as? [String: Any] { throw TestSetupError("QMP error: \(error)") }
            return reply["return"] as Any
        }
    }
}

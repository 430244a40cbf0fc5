import CorralJSON
import CorralProtocol
import Foundation
import POSIXSupport

/// One exchange with the QEMU guest agent over the guest's `org.qemu.guest_agent.0` channel
/// socket, as libvirt does it: connect, `guest-sync` with a fresh id (discarding whatever a
/// previous, abandoned exchange left in the channel) until the agent echoes that id, then the
/// command and its reply. The I/O blocks, so it runs on a thread of its own, never on the
/// daemon's event loops or the concurrency pool.
enum GuestAgentChannel {
    /// libvirt's default wait for the agent (`VIR_DOMAIN_QEMU_AGENT_COMMAND_DEFAULT`), seconds.
    static let defaultTimeout = 5.0
    /// The name of the channel the agent listens on.
    static let channelName = "org.qemu.guest_agent.0"

    /// Runs `command` (JSON text); returns the agent's whole reply as compact JSON, or an empty
    /// string for `timeout` 0 (`NOWAIT`: sent, not waited for; libvirt's clients treat a null
    /// result as a failure, so "nothing awaited" is an empty result). `timeout` -2 waits for ever, -1 is the
    /// default, and a positive number is seconds.
    static func execute(socket: String, command: JSONValue, timeout: Int32) async throws(RemoteError) -> String {
        let result: Result<String, RemoteError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Result { () throws(RemoteError) -> String in
                    try exchange(socket: socket, command: command, timeout: timeout)
                })
            }
            thread.name = "guest-agent"
            thread.start()
        }
        return try result.get()
    }

    static func notResponding(_ why: String) -> RemoteError {
        RemoteError(code: .agentUnresponsive, domain: .qemu, detail: why)
    }

    private static func exchange(socket path: String, command: JSONValue, timeout: Int32) throws(RemoteError) -> String {
        let fd: Int32
        do throws(SystemError) {
            fd = try UnixSocket.connect(path)
        } catch {
            throw notResponding("QEMU guest agent is not connected")
        }
        defer { close(fd) }
        let seconds: Double? = timeout == -2 ? nil : timeout == -1 || timeout == 0 ? defaultTimeout : Double(timeout)
        var reader = BlockingLineReader(fd: fd)
        // The handshake is always bounded: an absent agent must not hang the caller.
        let syncID = Int64.random(in: 1...Int64(Int32.max))
        let sync = JSONValue.object([("execute", .string("guest-sync")), ("arguments", .object([("id", .integer(syncID))]))])
        guard UnixSocket.writeAll(fd, Array((sync.description + "\n").utf8)) else { throw notResponding("QEMU guest agent is not connected") }
        let syncDeadline = ContinuousClock.now + .seconds(seconds ?? defaultTimeout)
        while true {
            guard let line = reader.agentLine(until: syncDeadline) else { throw notResponding("Guest agent not available for now") }
            if let reply = try? JSONValue.parse(line), reply["return"]?.intValue == syncID { break }
        }
        guard UnixSocket.writeAll(fd, Array((command.description + "\n").utf8)) else { throw notResponding("QEMU guest agent is not connected") }
        if timeout == 0 { return "" }
        let deadline = seconds.map { ContinuousClock.now + .seconds($0) }
        while true {
            guard let line = reader.agentLine(until: deadline) else { throw notResponding("Guest agent not available for now") }
            guard let reply = try? JSONValue.parse(line), reply["return"] != nil || reply["error"] != nil else { continue }
            if let error = reply["error"] {
                let name = command["execute"]?.stringValue ?? ""
                throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU agent command '\(name)': \(error["desc"]?.stringValue ?? error.description)")
            }
            return reply.description
        }
    }
}

extension BlockingLineReader {
    /// A line from the agent without surrounding blanks or a carriage return. (Lines that do not
    /// parse, such as leftovers of an abandoned exchange, are skipped by the caller.)
    mutating func agentLine(until deadline: ContinuousClock.Instant?) -> String? {
        line(until: deadline)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

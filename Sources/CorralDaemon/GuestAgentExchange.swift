import CorralJSON
import CorralProtocol

/// One exchange with the QEMU guest agent, as a pure state machine (lines in, actions out), as
/// libvirt does it: `guest-sync` with a fresh id, discarding whatever a previous, abandoned
/// exchange left in the channel until the agent echoes that id; then the command and its reply.
///
/// Everything from the agent is outside data a guest controls: a reply that is not valid JSON
/// (invalid UTF-8, lone surrogates, too deep or too long) ends the exchange with an error naming
/// the problem, never a trap.
struct GuestAgentExchange {
    enum State: Equatable {
        case awaitingSync
        case awaitingReply
        case finished
    }

    enum Action: Equatable {
        /// Write this line (a newline follows).
        case send(String)
        /// The command went out: from now on the reply deadline applies.
        case commandSent
        /// Done: the caller gets this.
        case finish(Result<String, RemoteError>)
    }

    private(set) var state = State.awaitingSync
    let command: JSONValue
    let syncID: Int64
    /// `false` for libvirt's NOWAIT timeout (0): finish with an empty result once the command is sent.
    let awaitsReply: Bool

    init(command: JSONValue, syncID: Int64, awaitsReply: Bool) {
        self.command = command
        self.syncID = syncID
        self.awaitsReply = awaitsReply
    }

    /// The first line to send.
    func start() -> [Action] {
        [.send(JSONValue.object([("execute", .string("guest-sync")), ("arguments", .object([("id", .integer(syncID))]))]).description)]
    }

    /// A line arrived from the agent (without its newline).
    mutating func lineReceived(_ line: some Collection<UInt8>) -> [Action] {
        switch state {
        case .finished:
            return []
        case .awaitingSync:
            // Anything before our sync's echo is a leftover: skipped, whatever it is.
            guard let reply = try? JSONValue.parse(line), reply["return"]?.intValue == syncID else { return [] }
            if !awaitsReply {
                state = .finished
                return [.send(command.description), .finish(.success(""))]
            }
            state = .awaitingReply
            return [.send(command.description), .commandSent]
        case .awaitingReply:
            let reply: JSONValue
            do throws(JSONParseError) {
                reply = try JSONValue.parse(line)
            } catch {
                state = .finished
                return [.finish(.failure(RemoteError(code: .internalError, domain: .qemu, detail: "unable to parse the guest agent's reply: \(error.message)")))]
            }
            if let error = reply["error"] {
                state = .finished
                let name = command["execute"]?.stringValue ?? ""
                return [.finish(.failure(RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU agent command '\(name)': \(error["desc"]?.stringValue ?? error.description)")))]
            }
            guard reply["return"] != nil else { return [] }
            state = .finished
            return [.finish(.success(reply.description))]
        }
    }

    /// The deadline of the current phase passed.
    mutating func timedOut() -> [Action] {
        guard state != .finished else { return [] }
        state = .finished
        return [.finish(.failure(Self.notResponding("Guest agent not available for now")))]
    }

    /// The channel closed, or a line was too long.
    mutating func channelFailed() -> [Action] {
        guard state != .finished else { return [] }
        state = .finished
        return [.finish(.failure(Self.notResponding("QEMU guest agent is not connected")))]
    }

    static func notResponding(_ why: String) -> RemoteError {
        RemoteError(code: .agentUnresponsive, domain: .qemu, detail: why)
    }
}

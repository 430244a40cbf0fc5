public import CorralJSON

/// The server side of one QMP session, as a pure state machine: what QEMU does for a client
/// that connects to its monitor. It sends the greeting, insists on `qmp_capabilities` first,
/// answers malformed input with QEMU's errors, hands each command on in order (one at a time,
/// as QEMU runs a monitor's commands), puts the client's `id` back on the reply, and passes
/// events only once the session is negotiated. Used by the QMP proxy; tested without sockets.
public struct QMPServerSession: Sendable {
    /// What the I/O layer must do.
    public enum Action: Sendable, Equatable {
        /// Write this message to the client.
        case send(JSONValue)
        /// Run this command (the client's `id` removed) on the real monitor and report the reply
        /// with ``replyReceived(_:)``.
        case forward(JSONValue)
    }

    /// Where the session is.
    public enum State: Sendable, Equatable {
        case awaitingCapabilities
        case ready
    }

    public private(set) var state: State = .awaitingCapabilities
    /// Commands waiting their turn: the message (without id) and the client's id.
    private var queue: [(JSONValue, JSONValue?)] = []
    /// The client's id of the command on the monitor now, when one is.
    private var inFlight: JSONValue??

    /// Creates a session.
    public init() {}

    /// The greeting QEMU sends, for `version` (the `query-version` return value). The proxy
    /// offers no capabilities: out-of-band execution does not cross the daemon.
    public static func greeting(version: JSONValue) -> JSONValue {
        .object([("QMP", .object([("version", version), ("capabilities", .array([]))]))])
    }

    /// The client sent bytes that are not JSON.
    public mutating func garbageReceived(_ why: String) -> [Action] {
        [.send(Self.error("GenericError", "JSON parse error, \(why)", id: nil))]
    }

    /// The client sent a JSON value.
    public mutating func messageReceived(_ message: JSONValue) -> [Action] {
        guard case .object(var members) = message else {
            return [.send(Self.error("GenericError", "QMP input must be a JSON object", id: nil))]
        }
        let id = members.first { $0.0 == "id" }?.1
        if let unknown = members.first(where: { !["execute", "arguments", "id", "control"].contains($0.0) }) {
            return [.send(Self.error("GenericError", "QMP input member '\(unknown.0)' is unexpected", id: id))]
        }
        guard let execute = message["execute"] else {
            return [.send(Self.error("GenericError", "QMP input lacks member 'execute'", id: id))]
        }
        guard let command = execute.stringValue else {
            return [.send(Self.error("GenericError", "QMP input member 'execute' must be a string", id: id))]
        }
        if let arguments = message["arguments"], arguments.objectValue == nil {
            return [.send(Self.error("GenericError", "QMP input member 'arguments' must be an object", id: id))]
        }
        switch (state, command) {
        case (.awaitingCapabilities, "qmp_capabilities"):
            if let enabled = message["arguments"]?["enable"]?.arrayValue, let first = enabled.first {
                return [.send(Self.error("GenericError", "Capability '\(first.stringValue ?? first.description)' not available", id: id))]
            }
            state = .ready
            return [.send(Self.reply(.object([]), id: id))]
        case (.awaitingCapabilities, _):
            return [.send(Self.error("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'", id: id))]
        case (.ready, "qmp_capabilities"):
            return [.send(Self.error("CommandNotFound", "Capabilities negotiation is already complete, command ignored", id: id))]
        case (.ready, _):
            members.removeAll { $0.0 == "id" || $0.0 == "control" }
            queue.append((.object(members), id))
            return next()
        }
    }

    /// The monitor answered the forwarded command (`reply` is QEMU's whole reply), or the
    /// daemon failed it (`nil`, with `failure` saying why).
    public mutating func replyReceived(_ reply: JSONValue?, failure: String = "") -> [Action] {
        guard let current = inFlight else { return [] }
        inFlight = nil
        let id = current
        var actions: [Action]
        if let reply, case .object(var members) = reply {
            members.removeAll { $0.0 == "id" }
            if let id { members.append(("id", id)) }
            actions = [.send(.object(members))]
        } else {
            actions = [.send(Self.error("GenericError", failure.isEmpty ? "the monitor did not answer" : failure, id: id))]
        }
        actions += next()
        return actions
    }

    /// An event from the guest: the message to send, or nothing before negotiation.
    public func eventReceived(_ event: JSONValue) -> [Action] {
        state == .ready ? [.send(event)] : []
    }

    /// The number of commands accepted and not yet answered.
    public var pendingCount: Int { queue.count + (inFlight == nil ? 0 : 1) }

    private mutating func next() -> [Action] {
        guard inFlight == nil, !queue.isEmpty else { return [] }
        let (message, id) = queue.removeFirst()
        inFlight = .some(id)
        return [.forward(message)]
    }

    /// `{"return": value, "id": id}` as QEMU writes it.
    static func reply(_ value: JSONValue, id: JSONValue?) -> JSONValue {
        var members: [(String, JSONValue)] = [("return", value)]
        if let id { members.append(("id", id)) }
        return .object(members)
    }

    /// `{"error": {"class": …, "desc": …}, "id": id}` as QEMU writes it.
    static func error(_ errorClass: String, _ description: String, id: JSONValue?) -> JSONValue {
        var members: [(String, JSONValue)] = [("error", .object([("class", .string(errorClass)), ("desc", .string(description))]))]
        if let id { members.append(("id", id)) }
        return .object(members)
    }
}

extension QMPEvent {
    /// The event as QEMU writes it on a monitor: timestamp, event, then data when there is any.
    public static func message(name: String, seconds: Int64, microseconds: Int64, data: JSONValue?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("timestamp", .object([("seconds", .integer(seconds)), ("microseconds", .integer(microseconds))])),
            ("event", .string(name)),
        ]
        if let data { members.append(("data", data)) }
        return .object(members)
    }
}

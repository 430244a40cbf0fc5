public import CorralJSON
/// A QMP session as a pure state machine: greeting → capabilities negotiation → ready → closed.
///
/// Commands are given ids and may be pipelined; replies are matched by id (events and replies
/// interleave: for `stop`, `cont` and others the event comes first). A client's in-band command
/// (passthrough) goes as the client wrote it, without an id of the session's: QEMU answers
/// in-band commands in the order it got them, so such a reply is the oldest such command's.
/// QEMU 7.2 reads a monitor one byte per main-loop turn, ~4 µs a byte here, so an id of
/// `"id":"libvirt-123"` cost each passthrough call ~80 µs. Commands issued before the session is
/// ready wait until negotiation finishes. Generic over the pending-call token so it is tested
/// without channels or promises.
public struct QMPSessionStateMachine<Pending> {
    /// Where the session is.
    public enum State: Sendable, Hashable {
        case awaitingGreeting
        case negotiating
        case ready
        case closed
    }

    /// What the I/O layer must do.
    public enum Action {
        /// Write this message (one line).
        case send(JSONValue)
        /// Complete a command.
        case complete(Pending, Result<JSONValue, QMPError>)
        /// Deliver an event.
        case deliver(QMPEvent)
        /// The session is ready; the greeting is attached.
        case becameReady(JSONValue)
        /// The peer broke the protocol: fail everything and close.
        case failAndClose([Pending], QMPError)
    }

    public private(set) var state: State = .awaitingGreeting
    private var nextID: UInt64 = 0
    private var pending: [String: Pending] = [:]
    /// Clients' in-band commands sent without a session id, oldest first: QEMU answers them in
    /// order. A few at most (a session's clients wait for their replies), so the oldest is
    /// removed from the front of a plain array.
    private var inBand: [Pending] = []
    /// Commands waiting for the session to be ready: with the session's id, or `nil` for an
    /// in-band command matched by order.
    private var waiting: [(JSONValue, String?, Pending)] = []
    /// For raw commands: the id the caller gave (or `nil`), to restore in the reply.
    private var rawIDs: [String: JSONValue?] = [:]
    private let idPrefix: String
    private let negotiationID: String
    private let wantedCapabilities: [String]
    /// The capabilities negotiated (those wanted that the greeting offered).
    public private(set) var enabledCapabilities: [String] = []

    /// Creates a machine; ids it generates start with `idPrefix`. `capabilities` are enabled
    /// when QEMU offers them (`oob`: QEMU then queues up to 8 commands instead of reading one at a
    /// time, and accepts `exec-oob`).
    public init(idPrefix: String = "corral", capabilities: [String] = []) {
        self.idPrefix = idPrefix
        self.negotiationID = idPrefix + "-negotiate"
        self.wantedCapabilities = capabilities
    }

    /// The number of commands waiting for replies.
    public var pendingCount: Int { pending.count + inBand.count + waiting.count }

    /// The caller wants to run `command`; returns what to send now (nothing if not yet ready).
    public mutating func commandRequested(_ command: String, arguments: JSONValue?, pending call: Pending) -> [Action] {
        let id = "\(idPrefix)-\(nextID)"
        nextID += 1
        var members: [(String, JSONValue)] = [("execute", .string(command))]
        if let arguments { members.append(("arguments", arguments)) }
        members.append(("id", .string(id)))
        return dispatch(.object(members), id: id, call: call)
    }

    /// Sends `message` now if the session is ready, else keeps it for after negotiation. `id`:
    /// the session's id its reply carries, or `nil` for an in-band command matched by order.
    private mutating func dispatch(_ message: JSONValue, id: String?, call: Pending) -> [Action] {
        switch state {
        case .closed:
            if let id { rawIDs[id] = nil }
            return [.complete(call, .failure(QMPError(code: .connectionClosed, message: "the QMP session is closed")))]
        case .awaitingGreeting, .negotiating:
            waiting.append((message, id, call))
            return []
        case .ready:
            if let id { pending[id] = call } else { inBand.append(call) }
            return [.send(message)]
        }
    }

    /// The caller wants to send a whole QMP message of its own (passthrough); the reply is
    /// completed whole (QEMU's error replies included) rather than as a return value.
    ///
    /// An in-band command (`execute`) goes as it is, matched to its reply by order. An
    /// out-of-band one (`exec-oob`, answered as soon as QEMU can), or one whose id could be
    /// taken for the session's, travels with an id of the session's instead of its own, which is
    /// restored in the reply.
    public mutating func rawCommandRequested(_ message: JSONValue, pending call: Pending) -> [Action] {
        guard case .object(var members) = message, (message["execute"] ?? message["exec-oob"])?.stringValue != nil else {
            return [.complete(call, .failure(QMPError(code: .commandFailed, errorClass: "GenericError", message: "the command must be a JSON object with an \"execute\" member")))]
        }
        let callerID = message["id"]
        if message["execute"] != nil, !(callerID?.stringValue?.hasPrefix(idPrefix + "-") ?? false) {
            return dispatch(message, id: nil, call: call)
        }
        let id = "\(idPrefix)-\(nextID)"
        nextID += 1
        let original = members.first { $0.0 == "id" }?.1
        members.removeAll { $0.0 == "id" }
        members.append(("id", .string(id)))
        rawIDs[id] = .some(original)
        return dispatch(.object(members), id: id, call: call)
    }

    /// A message the session asked to send could not be (a file that would not go with it):
    /// its command is no longer waited for; returns its call, for the caller to fail.
    public mutating func messageNotSent(_ message: JSONValue) -> Pending? {
        if let id = message["id"]?.stringValue, let call = pending.removeValue(forKey: id) {
            rawIDs[id] = nil
            return call
        }
        // An in-band command, the newest: the message is refused as it is asked for.
        return inBand.popLast()
    }

    /// A message arrived.
    public mutating func messageReceived(_ message: JSONValue) -> [Action] {
        switch state {
        case .closed:
            return []
        case .awaitingGreeting:
            guard message["QMP"] != nil else {
                return fail(QMPError(code: .protocolViolation, message: "expected the QMP greeting, got \(message.description.prefix(200))"))
            }
            state = .negotiating
            let offered = Set(message["QMP"]?["capabilities"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            enabledCapabilities = wantedCapabilities.filter(offered.contains)
            var negotiation: [(String, JSONValue)] = [("execute", .string("qmp_capabilities"))]
            if !enabledCapabilities.isEmpty {
                negotiation.append(("arguments", .object([("enable", .array(enabledCapabilities.map { .string($0) }))])))
            }
            negotiation.append(("id", .string(negotiationID)))
            return [.send(.object(negotiation))]
        case .negotiating:
            if let event = QMPEvent(message: message) { return [.deliver(event)] }
            guard message["id"]?.stringValue == negotiationID else {
                return fail(QMPError(code: .protocolViolation, message: "unexpected message during negotiation: \(message.description.prefix(200))"))
            }
            if let error = message["error"] {
                return fail(QMPError(code: .protocolViolation, errorClass: error["class"]?.stringValue, message: "capabilities negotiation failed: \(error["desc"]?.stringValue ?? "")"))
            }
            state = .ready
            var actions: [Action] = [.becameReady(message)]
            for (command, id, call) in waiting {
                if let id { pending[id] = call } else { inBand.append(call) }
                actions.append(.send(command))
            }
            waiting.removeAll()
            return actions
        case .ready:
            if let event = QMPEvent(message: message) { return [.deliver(event)] }
            if let id = message["id"]?.stringValue, let original = rawIDs.removeValue(forKey: id), let call = pending.removeValue(forKey: id) {
                guard case .object(var members) = message else { return [] }
                members.removeAll { $0.0 == "id" }
                if let original { members.append(("id", original)) }
                return [.complete(call, .success(.object(members)))]
            }
            guard let id = message["id"]?.stringValue, let call = pending.removeValue(forKey: id) else {
                // Not one of the session's ids: the reply to the oldest in-band command sent
                // without one.
                if !inBand.isEmpty { return [.complete(inBand.removeFirst(), .success(message))] }
                if message["error"] != nil && message["id"] == nil {
                    // QEMU's reply to input it could not parse as a command carries no id.
                    return fail(QMPError(code: .protocolViolation, errorClass: message["error"]?["class"]?.stringValue, message: message["error"]?["desc"]?.stringValue ?? "error without id"))
                }
                return fail(QMPError(code: .protocolViolation, message: "a reply for no command: \(message.description.prefix(200))"))
            }
            if let error = message["error"] {
                return [.complete(call, .failure(QMPError(code: .commandFailed, errorClass: error["class"]?.stringValue, message: error["desc"]?.stringValue ?? "")))]
            }
            return [.complete(call, .success(message["return"] ?? .object([])))]
        }
    }

    /// The peer sent bytes that are not JSON.
    public mutating func garbageReceived(_ why: String) -> [Action] {
        fail(QMPError(code: .protocolViolation, message: "the monitor sent something that is not JSON: \(why)"))
    }

    /// The connection closed.
    public mutating func connectionClosed() -> [Pending] {
        state = .closed
        let all = Array(pending.values) + inBand + waiting.map(\.2)
        pending.removeAll()
        inBand.removeAll()
        waiting.removeAll()
        return all
    }

    private mutating func fail(_ error: QMPError) -> [Action] {
        let all = connectionClosed()
        return [.failAndClose(all, error)]
    }
}

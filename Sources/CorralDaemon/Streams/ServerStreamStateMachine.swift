import CorralProtocol

/// One libvirt stream on the server side, as a pure state machine: what each stream packet from
/// the client means, given what the stream carries and how far it got.
///
/// libvirt's rules (`virnetserverprogram.c`, `remote_daemon_stream.c`): data is STREAM/CONTINUE
/// (or STREAM_HOLE/CONTINUE when the opening call allowed holes); the client finishes with
/// STREAM/OK and aborts with STREAM/ERROR; the daemon ends a stream it reads with an empty
/// STREAM/CONTINUE and answers a finish or an abort with STREAM/OK (or STREAM/ERROR when
/// finishing failed). Once a stream ends, its packets are ignored.
struct ServerStreamStateMachine: Sendable {
    /// Which way data flows.
    enum Direction: Sendable, Hashable {
        /// The daemon sends (download, screenshot).
        case toClient
        /// The client sends (upload).
        case fromClient
        /// Both (console, channel).
        case both

        var acceptsData: Bool { self != .toClient }
        var sendsData: Bool { self != .fromClient }
    }

    enum State: Sendable, Hashable {
        /// Data flows.
        case transferring
        /// The daemon sent its end of data; the client has yet to finish.
        case sourceEnded
        /// The client finished or aborted; the reply is being prepared.
        case closing
        /// Gone: packets are ignored.
        case closed
    }

    /// What to do with a packet from the client.
    enum Action: Sendable, Hashable {
        /// Hand the payload to the sink.
        case deliverData
        /// Hand a hole (the payload's length) to the sink.
        case deliverHole
        /// Finish the transfer, then reply STREAM/OK (or STREAM/ERROR if finishing fails).
        case finish
        /// Abort the transfer, then reply STREAM/OK.
        case abort
        /// End the stream with this error (STREAM/ERROR).
        case fail(RemoteError)
        /// Nothing (an empty data packet, or a packet after the end).
        case ignore
    }

    let direction: Direction
    /// Whether the opening call allowed holes.
    let allowsHoles: Bool
    private(set) var state: State = .transferring

    init(direction: Direction, allowsHoles: Bool) {
        self.direction = direction
        self.allowsHoles = allowsHoles
    }

    /// A stream packet arrived from the client.
    mutating func packetReceived(type: RPCMessageType, status: RPCMessageStatus, payloadLength: Int) -> Action {
        guard state == .transferring || state == .sourceEnded else { return .ignore }
        switch status {
        case .ok:
            state = .closing
            return .finish
        case .error:
            state = .closing
            return .abort
        case .continue:
            if type == .streamHole {
                guard allowsHoles else {
                    state = .closed
                    return .fail(RemoteError(code: .rpc, domain: .rpc, detail: "Unexpected stream hole"))
                }
                guard direction.acceptsData else {
                    state = .closed
                    return .fail(RemoteError(code: .rpc, domain: .rpc, detail: "stream does not accept data"))
                }
                return .deliverHole
            }
            if payloadLength == 0 { return .ignore }
            guard direction.acceptsData, state == .transferring else {
                state = .closed
                return .fail(RemoteError(code: .rpc, domain: .rpc, detail: "stream does not accept data"))
            }
            return .deliverData
        }
    }

    /// The daemon sent its end of data.
    mutating func sourceEnded() {
        if state == .transferring { state = .sourceEnded }
    }

    /// The stream is gone: the reply to a finish or abort is out, or it failed.
    mutating func closed() { state = .closed }
}

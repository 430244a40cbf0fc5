import NIOCore

/// The daemon's side of libvirt's keepalive protocol for one connection, as libvirtd runs it:
/// once the client has asked whether the server supports keepalive, every `interval` seconds
/// without a message from the client the daemon sends a PING; after `count` PINGs with no
/// message back, it closes the connection. Any message from the client (a call, a PONG) counts.
/// Lives on the connection's event loop.
struct ConnectionKeepalive {
    /// What the timer asks of the connection.
    enum Action {
        case sendPing
        case close
    }

    private let settings: KeepaliveSettings
    private var timer: RepeatedTask?
    /// Whether the client sent something since the last tick, and PINGs it left unanswered.
    private var state: NIOLoopBoundBox<TickState>?

    init(settings: KeepaliveSettings) {
        self.settings = settings
    }

    /// What the timer does when it fires: a pure step, so the rule can be tested alone.
    static func tick(receivedSinceTick: Bool, unansweredPings: inout Int, count: Int) -> Action? {
        if receivedSinceTick {
            unansweredPings = 0
            return nil
        }
        guard unansweredPings < count else { return .close }
        unansweredPings += 1
        return .sendPing
    }

    /// Starts the timer (once; off when `interval` is -1 or `count` is 0, as in libvirt).
    mutating func start(on eventLoop: any EventLoop, perform: @escaping (Action) -> Void) {
        guard timer == nil, settings.interval > 0, settings.count > 0 else { return }
        let interval = TimeAmount.seconds(Int64(settings.interval))
        let state = NIOLoopBoundBox(TickState(), eventLoop: eventLoop)
        let count = settings.count
        let loopBoundPerform = NIOLoopBound(perform, eventLoop: eventLoop)
        timer = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let received = state.value.received
            state.value.received = false
            if let action = Self.tick(receivedSinceTick: received, unansweredPings: &state.value.unansweredPings, count: count) {
                loopBoundPerform.value(action)
            }
        }
        self.state = state
    }

    private final class TickState {
        var received = false
        var unansweredPings = 0
    }

    /// A message arrived from the client.
    mutating func messageReceived() {
        state?.value.received = true
    }

    /// Stops the timer (the connection closed).
    mutating func stop() {
        timer?.cancel()
        timer = nil
    }
}

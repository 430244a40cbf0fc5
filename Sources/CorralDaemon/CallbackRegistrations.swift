import CorralProtocol
import NIOCore
import Synchronization

/// Event callback registrations of every connection (`…EventRegisterAny`), for one kind of
/// object (domains, storage pools): each belongs to one connection, has the callback id the
/// server gave it, the event it wants, and optionally the one object it watches.
final class CallbackRegistrations: Sendable {
    struct Registration {
        var connectionID: UInt64
        var callbackID: Int32
        var eventID: Int32
        /// The object watched; `nil` for all.
        var object: RemoteUUID?
        var channel: any Channel
    }

    private let state = Mutex<(next: Int32, registrations: [Registration])>((1, []))

    /// Registers and returns the new callback id (ids wrap rather than trap).
    func register(connectionID: UInt64, channel: any Channel, eventID: Int32, object: RemoteUUID?) -> Int32 {
        state.withLock { state in
            let id = state.next
            state.next = state.next == Int32.max ? 1 : state.next + 1
            state.registrations.append(Registration(connectionID: connectionID, callbackID: id, eventID: eventID, object: object, channel: channel))
            return id
        }
    }

    /// Registers a callback for `eventID` when `known`, else libvirt's error naming the `kind`
    /// of object ("network", "secret"…).
    func register(connectionID: UInt64, channel: any Channel, eventID: Int32, object: RemoteUUID?, known: Bool, kind: String) throws(RemoteError) -> Int32 {
        guard known else { throw RemoteError(code: .internalError, domain: .remote, detail: "unsupported \(kind) event ID \(eventID)") }
        return register(connectionID: connectionID, channel: channel, eventID: eventID, object: object)
    }

    /// Removes a connection's registration, or gives libvirt's error naming the `kind` of object.
    func deregister(connectionID: UInt64, callbackID: Int32, kind: String) throws(RemoteError) {
        if !deregister(connectionID: connectionID, callbackID: callbackID) {
            throw RemoteError(code: .internalError, domain: .remote, detail: "\(kind) event callback \(callbackID) not registered")
        }
    }

    /// Removes a connection's registration; returns whether it existed.
    func deregister(connectionID: UInt64, callbackID: Int32) -> Bool {
        state.withLock { state -> Bool in
            let before = state.registrations.count
            state.registrations.removeAll { $0.connectionID == connectionID && $0.callbackID == callbackID }
            return state.registrations.count != before
        }
    }

    func connectionClosed(_ connectionID: UInt64) {
        state.withLock { $0.registrations.removeAll { $0.connectionID == connectionID } }
    }

    /// The registrations that want `eventID` about `object`.
    func targets(eventID: Int32, object: RemoteUUID) -> [Registration] {
        state.withLock { state in state.registrations.filter { $0.eventID == eventID && ($0.object == nil || $0.object == object) } }
    }
}

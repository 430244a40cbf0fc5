import CorralProtocol
import NIOCore
import Synchronization

/// Storage pool event registrations (`virConnectStoragePoolEventRegisterAny`) and delivery.
final class StorageEvents: Sendable {
    /// What happened to a pool: `virStoragePoolEventLifecycleType`, plus the refresh event.
    enum Event: Sendable {
        case defined, undefined, started, stopped, created, deleted, refreshed

        var lifecycleNumber: Int32? {
            switch self {
            case .defined: 0
            case .undefined: 1
            case .started: 2
            case .stopped: 3
            case .created: 4
            case .deleted: 5
            case .refreshed: nil
            }
        }
    }

    /// `VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE` and `_REFRESH`.
    static let lifecycleID: Int32 = 0, refreshID: Int32 = 1

    private struct Registration {
        var connectionID: UInt64
        var callbackID: Int32
        var eventID: Int32
        var pool: RemoteUUID?
        var channel: any Channel
    }

    private let state = Mutex<(next: Int32, registrations: [Registration])>((1, []))

    func register(connectionID: UInt64, channel: any Channel, eventID: Int32, pool: RemoteUUID?) throws(RemoteError) -> Int32 {
        guard eventID == Self.lifecycleID || eventID == Self.refreshID else {
            throw RemoteError(code: .internalError, domain: .remote, detail: "unsupported storage pool event ID \(eventID)")
        }
        return state.withLock { state in
            let id = state.next
            state.next = state.next == Int32.max ? 1 : state.next + 1
            state.registrations.append(Registration(connectionID: connectionID, callbackID: id, eventID: eventID, pool: pool, channel: channel))
            return id
        }
    }

    func deregister(connectionID: UInt64, callbackID: Int32) throws(RemoteError) {
        let removed = state.withLock { state -> Bool in
            let before = state.registrations.count
            state.registrations.removeAll { $0.connectionID == connectionID && $0.callbackID == callbackID }
            return state.registrations.count != before
        }
        if !removed {
            throw RemoteError(code: .internalError, domain: .remote, detail: "storage pool event callback \(callbackID) not registered")
        }
    }

    func connectionClosed(_ connectionID: UInt64) {
        state.withLock { $0.registrations.removeAll { $0.connectionID == connectionID } }
    }

    /// Sends `event` about `pool` to the registrations that want it.
    func emit(_ event: Event, pool: RemoteStoragePool) {
        let eventID = event.lifecycleNumber == nil ? Self.refreshID : Self.lifecycleID
        let targets = state.withLock { state in
            state.registrations.filter { $0.eventID == eventID && ($0.pool == nil || $0.pool == pool.uuid) }
        }
        for registration in targets {
            var buffer = registration.channel.allocator.buffer(capacity: 96)
            if let number = event.lifecycleNumber {
                buffer.writeRPCPacket(header: RPCHeader(program: .remote, procedure: Remote.StoragePoolEventLifecycle.procedure, type: .message, serial: 1)) {
                    Remote.StoragePoolEventLifecycle.Arguments(callbackID: registration.callbackID, pool: pool, event: number, detail: 0).encode(into: &$0)
                }
            } else {
                buffer.writeRPCPacket(header: RPCHeader(program: .remote, procedure: Remote.StoragePoolEventRefresh.procedure, type: .message, serial: 1)) {
                    Remote.StoragePoolEventRefresh.Arguments(callbackID: registration.callbackID, pool: pool).encode(into: &$0)
                }
            }
            registration.channel.writeAndFlush(buffer, promise: nil)
        }
    }
}

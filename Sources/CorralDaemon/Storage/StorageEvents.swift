import CorralProtocol
import NIOCore

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

    private let registrations = CallbackRegistrations()

    func register(connectionID: UInt64, channel: any Channel, eventID: Int32, pool: RemoteUUID?) throws(RemoteError) -> Int32 {
        try registrations.register(
            connectionID: connectionID, channel: channel, eventID: eventID, object: pool, known: eventID == Self.lifecycleID || eventID == Self.refreshID,
            kind: "storage pool")
    }

    func deregister(connectionID: UInt64, callbackID: Int32) throws(RemoteError) {
        try registrations.deregister(connectionID: connectionID, callbackID: callbackID, kind: "storage pool")
    }

    func connectionClosed(_ connectionID: UInt64) {
        registrations.connectionClosed(connectionID)
    }

    /// Sends `event` about `pool` to the registrations that want it.
    func emit(_ event: Event, pool: RemoteStoragePool) {
        let eventID = event.lifecycleNumber == nil ? Self.refreshID : Self.lifecycleID
        for registration in registrations.targets(eventID: eventID, object: pool.uuid) {
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

import CorralProtocol
import NIOCore

/// Secret event registrations (`virConnectSecretEventRegisterAny`) and delivery.
final class SecretEvents: Sendable {
    /// `virSecretEventLifecycleType`.
    enum Event: Int32, Sendable {
        case defined = 0, undefined = 1
    }

    /// `virSecretEventID`.
    enum EventID: Int32, Sendable {
        case lifecycle = 0, valueChanged = 1
    }

    private let registrations = CallbackRegistrations()

    func register(connectionID: UInt64, channel: any Channel, eventID: Int32, secret: RemoteUUID?) throws(RemoteError) -> Int32 {
        try registrations.register(connectionID: connectionID, channel: channel, eventID: eventID, object: secret, known: EventID(rawValue: eventID) != nil, kind: "secret")
    }

    func deregister(connectionID: UInt64, callbackID: Int32) throws(RemoteError) {
        try registrations.deregister(connectionID: connectionID, callbackID: callbackID, kind: "secret")
    }

    func connectionClosed(_ connectionID: UInt64) {
        registrations.connectionClosed(connectionID)
    }

    /// Sends a lifecycle `event` about `secret` to the registrations that want it.
    func emit(_ event: Event, secret: RemoteSecret) {
        for registration in registrations.targets(eventID: EventID.lifecycle.rawValue, object: secret.uuid) {
            var buffer = registration.channel.allocator.buffer(capacity: 128)
            buffer.writeRPCPacket(header: RPCHeader(program: .remote, procedure: Remote.SecretEventLifecycle.procedure, type: .message, serial: 1)) {
                Remote.SecretEventLifecycle.Arguments(callbackID: registration.callbackID, secret: secret, event: event.rawValue, detail: 0).encode(into: &$0)
            }
            registration.channel.writeAndFlush(buffer, promise: nil)
        }
    }

    /// Tells the registrations that want it that `secret`'s value changed.
    func emitValueChanged(secret: RemoteSecret) {
        for registration in registrations.targets(eventID: EventID.valueChanged.rawValue, object: secret.uuid) {
            var buffer = registration.channel.allocator.buffer(capacity: 128)
            buffer.writeRPCPacket(header: RPCHeader(program: .remote, procedure: Remote.SecretEventValueChanged.procedure, type: .message, serial: 1)) {
                Remote.SecretEventValueChanged.Arguments(callbackID: registration.callbackID, secret: secret).encode(into: &$0)
            }
            registration.channel.writeAndFlush(buffer, promise: nil)
        }
    }
}

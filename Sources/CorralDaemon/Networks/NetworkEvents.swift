import CorralProtocol
import NIOCore

/// Network event registrations (`virConnectNetworkEventRegisterAny`) and delivery.
final class NetworkEvents: Sendable {
    /// `virNetworkEventLifecycleType`.
    enum Event: Int32, Sendable {
        case defined = 0, undefined = 1, started = 2, stopped = 3
    }

    /// `VIR_NETWORK_EVENT_ID_LIFECYCLE`, the only network event of libvirt 9.0.
    static let lifecycleID: Int32 = 0

    private let registrations = CallbackRegistrations()

    func register(connectionID: UInt64, channel: any Channel, eventID: Int32, network: RemoteUUID?) throws(RemoteError) -> Int32 {
        try registrations.register(connectionID: connectionID, channel: channel, eventID: eventID, object: network, known: eventID == Self.lifecycleID, kind: "network")
    }

    func deregister(connectionID: UInt64, callbackID: Int32) throws(RemoteError) {
        try registrations.deregister(connectionID: connectionID, callbackID: callbackID, kind: "network")
    }

    func connectionClosed(_ connectionID: UInt64) {
        registrations.connectionClosed(connectionID)
    }

    /// Sends `event` about `network` to the registrations that want it.
    func emit(_ event: Event, network: RemoteNetwork) {
        for registration in registrations.targets(eventID: Self.lifecycleID, object: network.uuid) {
            var buffer = registration.channel.allocator.buffer(capacity: 96)
            buffer.writeRPCPacket(header: RPCHeader(program: .remote, procedure: Remote.NetworkEventLifecycle.procedure, type: .message, serial: 1)) {
                Remote.NetworkEventLifecycle.Arguments(callbackID: registration.callbackID, net: network, event: event.rawValue, detail: 0).encode(into: &$0)
            }
            registration.channel.writeAndFlush(buffer, promise: nil)
        }
    }
}

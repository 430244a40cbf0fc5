import CorralNetwork
import CorralProtocol

/// One virtual network, as libvirt's `virNetworkObj`: its definition, state, and the ports
/// (guest interfaces) plugged into it. A value held in ``NetworkRegistry``.
struct NetworkRecord: Sendable, DefinedObjectRecord {
    /// The definition in use (the running one while active).
    var definition: NetworkDefinition
    /// A definition given while the network ran (libvirt's `newDef`): it takes over at the next stop.
    var pendingDefinition: NetworkDefinition?
    var isPersistent: Bool
    var isActive = false
    var autostart = false
    /// The ports plugged in, by port UUID.
    var ports: [String: NetworkPortDefinition] = [:]

    /// The RPC handle.
    var handle: RemoteNetwork { RemoteNetwork(name: definition.name, uuid: RemoteUUID(definition.uuid)!) }
}

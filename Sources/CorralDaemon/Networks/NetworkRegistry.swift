import CorralNetwork
import CorralProtocol
import Synchronization

/// Every virtual network, by name, behind one short lock: lookups and listings read it from the
/// event loop without waiting; changes happen inside the network's job (``NetworkDriver``).
final class NetworkRegistry: Sendable {
    private let networks = Mutex<[String: NetworkRecord]>([:])

    /// Every network, sorted by name.
    func all() -> [NetworkRecord] {
        networks.withLock { Array($0.values) }.sorted { $0.definition.name < $1.definition.name }
    }

    func network(named name: String) -> NetworkRecord? { networks.withLock { $0[name] } }

    func network(uuid: String) -> NetworkRecord? {
        networks.withLock { networks in networks.values.first { $0.definition.uuid == uuid } }
    }

    /// The network a handle names (by UUID, as libvirt looks handles up), or libvirt's error.
    func network(for handle: RemoteNetwork) throws(RemoteError) -> NetworkRecord {
        guard let record = network(uuid: handle.uuid.description) else {
            throw RemoteError(code: .noNetwork, domain: .network, detail: "no network with matching uuid '\(handle.uuid)' (\(handle.name))")
        }
        return record
    }

    /// Whether a network other than `except` uses bridge `name` (in either of its definitions).
    func bridgeInUse(_ name: String, except: String) -> Bool {
        networks.withLock { networks in
            networks.values.contains { record in
                record.definition.name != except && (record.definition.bridge.name == name || record.pendingDefinition?.bridge.name == name)
            }
        }
    }

    func store(_ record: NetworkRecord) {
        networks.withLock { $0[record.definition.name] = record }
    }

    func remove(named name: String) {
        _ = networks.withLock { $0.removeValue(forKey: name) }
    }

    /// Changes a network in place; returns the result, or `nil` when it no longer exists.
    @discardableResult
    func update<T>(_ name: String, _ change: (inout NetworkRecord) -> T) -> T? {
        networks.withLock { networks in
            guard var record = networks[name] else { return nil }
            let result = change(&record)
            networks[name] = record
            return result
        }
    }
}

import CorralNetwork
import CorralProtocol
import Foundation
import Logging

/// The network driver: virtual networks, as libvirt's bridge driver — definitions, their
/// bridges, dnsmasq and firewall tables, and the ports guests plug into them.
///
/// Every change to a network runs in the network's job (one at a time, in order); host work runs
/// on ``NetworkWork``. A network that ran when the daemon stopped is found again from its live
/// definition (`run-dir/networks/NAME.xml`), its bridge and its dnsmasq.
final class NetworkDriver: Sendable {
    let registry = NetworkRegistry()
    let jobs = DomainJobs()
    let events: NetworkEvents
    let store: DefinitionStore
    /// The definitions of running networks, so a restarted daemon finds them.
    let liveStore: DefinitionStore
    /// `run-dir/networks`: each running network's dnsmasq files in `NAME/`.
    let runDirectory: String
    let logger: Logger

    init(stateDirectory: String, runDirectory: String, events: NetworkEvents, logger: Logger) throws {
        store = try DefinitionStore(directory: stateDirectory + "/networks", autostartDirectory: stateDirectory + "/networks/autostart")
        liveStore = try DefinitionStore(directory: runDirectory + "/networks", autostartDirectory: runDirectory + "/networks/autostart")
        self.runDirectory = runDirectory + "/networks"
        self.events = events
        self.logger = logger
    }

    static func newUUID() -> String { UUID().uuidString.lowercased() }

    // MARK: Loading

    /// Reads the stored definitions (at start-up).
    func load() {
        for (path, xml) in store.loadAll() {
            guard let xml else { continue }
            do throws(NetworkError) {
                let definition = try NetworkDefinition.parse(xml, newUUID: Self.newUUID)
                var record = NetworkRecord(definition: definition, isPersistent: true)
                record.autostart = store.isAutostart(name: definition.name)
                registry.store(record)
            } catch {
                logger.error("ignoring a network definition that does not read", metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
    }

    // MARK: Defining

    /// Parses and validates a definition as libvirt's define and create do.
    func parseAndValidate(_ xml: String, schema: Bool = false) throws(RemoteError) -> NetworkDefinition {
        var definition: NetworkDefinition
        do throws(NetworkError) {
            definition = try NetworkDefinition.parse(xml, newUUID: Self.newUUID, validate: schema)
            var random = SystemRandomNumberGenerator()
            let registry = self.registry, name = definition.name
            try NetworkValidation.validate(
                &definition, bridgeInUse: { registry.bridgeInUse($0, except: name) }, deviceExists: { NetworkHost.deviceExists($0) }, random: &random)
        } catch {
            throw RemoteError(error)
        }
        return definition
    }

    /// libvirt's `virNetworkObjIsDuplicate` checks.
    func checkDuplicates(_ definition: NetworkDefinition, mustNotBeActive: Bool) throws(RemoteError) {
        if let byName = registry.network(named: definition.name) {
            if byName.definition.uuid != definition.uuid {
                throw RemoteError(code: .operationFailed, domain: .network, detail: "network '\(definition.name)' is already defined with uuid \(byName.definition.uuid)")
            }
            if mustNotBeActive && byName.isActive {
                throw RemoteError(code: .operationInvalid, domain: .network, detail: "network is already active as '\(definition.name)'")
            }
        } else if let byUUID = registry.network(uuid: definition.uuid) {
            throw RemoteError(code: .operationFailed, domain: .network, detail: "network '\(byUUID.definition.name)' already exists with uuid \(definition.uuid)")
        }
    }

    /// `virNetworkDefineXML(Flags)`.
    func define(xml: String, flags: UInt32) async throws(RemoteError) -> RemoteNetwork {
        try DomainProcedures.checkFlags(flags, allowed: 1, domain: .network, function: "networkDefineXMLFlags")
        let definition = try parseAndValidate(xml, schema: flags & 1 != 0)
        return try await jobs.run(definition.name, "networkDefineXML") { () throws(RemoteError) -> RemoteNetwork in
            try checkDuplicates(definition, mustNotBeActive: false)
            let text = NetworkXMLFormatter.format(definition)
            let store = self.store
            try await NetworkWork.run { () throws(NetworkError) in
                do throws(StoreError) { try store.write(name: definition.name, xml: text) } catch { throw NetworkError(.operationFailed, error.message) }
            }
            var record = registry.network(named: definition.name) ?? NetworkRecord(definition: definition, isPersistent: true)
            record.assignPersistent(definition)
            registry.store(record)
            logger.info("defined network", metadata: ["network": "\(definition.name)"])
            events.emit(.defined, network: record.handle)
            return record.handle
        }
    }

    /// `virNetworkCreateXML(Flags)`: a transient network, started.
    func create(xml: String, flags: UInt32) async throws(RemoteError) -> RemoteNetwork {
        try DomainProcedures.checkFlags(flags, allowed: 1, domain: .network, function: "networkCreateXMLFlags")
        let definition = try parseAndValidate(xml, schema: flags & 1 != 0)
        return try await jobs.run(definition.name, "networkCreateXML") { () throws(RemoteError) -> RemoteNetwork in
            try checkDuplicates(definition, mustNotBeActive: true)
            var record = NetworkRecord(definition: definition, isPersistent: false)
            if let existing = registry.network(named: definition.name) {
                // Over an inactive persistent network: this definition runs once.
                record = existing
                record.runOnce(definition)
            }
            try await bringUp(definition)
            record.isActive = true
            registry.store(record)
            events.emit(.started, network: record.handle)
            return record.handle
        }
    }

    /// What a network must be for an operation.
    enum Requirement {
        case active, inactive, any
    }

    /// Runs `body` inside the network's job, with the network as it is once the job is held.
    func withNetworkJob<T: Sendable>(
        _ handle: RemoteNetwork, _ operation: String, _ requirement: Requirement, _ body: (NetworkRecord) async throws(RemoteError) -> T
    ) async throws(RemoteError) -> T {
        let name = try registry.network(for: handle).definition.name
        return try await jobs.run(name, operation) { () throws(RemoteError) -> T in
            let record = try registry.network(for: handle)
            switch requirement {
            case .active where !record.isActive:
                throw RemoteError(code: .operationInvalid, domain: .network, detail: "network '\(name)' is not active")
            case .inactive where record.isActive:
                throw RemoteError(code: .operationInvalid, domain: .network, detail: "network is already active")
            default:
                return try await body(record)
            }
        }
    }

    /// `virNetworkCreate`: starts a defined network.
    func start(_ handle: RemoteNetwork) async throws(RemoteError) {
        try await withNetworkJob(handle, "networkCreate", .inactive) { record throws(RemoteError) in
            try await bringUp(record.definition)
            registry.update(record.definition.name) { $0.isActive = true }
            events.emit(.started, network: record.handle)
        }
    }

    /// `virNetworkDestroy`: stops the network (a transient one goes away). Guests' taps lose
    /// their bridge, as with libvirt.
    func destroy(_ handle: RemoteNetwork) async throws(RemoteError) {
        try await withNetworkJob(handle, "networkDestroy", .active) { record throws(RemoteError) in
            await bringDown(record.definition)
            finishStop(record)
            if !record.isPersistent { await removeLeases(record.definition.name) }
        }
    }

    /// The registry after a stop: transient networks go, a pending definition takes over.
    func finishStop(_ record: NetworkRecord) {
        let name = record.definition.name
        if !record.isPersistent {
            registry.remove(named: name)
        } else {
            registry.update(name) { record in
                record.isActive = false
                record.ports = [:]
                record.applyPendingDefinition()
            }
        }
        logger.info("stopped network", metadata: ["network": "\(name)"])
        events.emit(.stopped, network: record.handle)
    }

    /// `virNetworkUndefine`: an active network becomes transient.
    func undefine(_ handle: RemoteNetwork) async throws(RemoteError) {
        try await withNetworkJob(handle, "networkUndefine", .any) { record throws(RemoteError) in
            guard record.isPersistent else {
                throw RemoteError(code: .operationInvalid, domain: .network, detail: "can't undefine transient network")
            }
            let name = record.definition.name, store = self.store
            try await NetworkWork.run { () throws(NetworkError) in
                do throws(StoreError) { try store.remove(name: name) } catch { throw NetworkError(.operationFailed, error.message) }
            }
            if record.isActive {
                registry.update(name) { record in
                    record.isPersistent = false
                    record.autostart = false
                    record.pendingDefinition = nil
                }
            } else {
                registry.remove(named: name)
                await removeLeases(name)
            }
            events.emit(.undefined, network: record.handle)
        }
    }

    /// `virNetworkSetAutostart`.
    func setAutostart(_ handle: RemoteNetwork, _ on: Bool) async throws(RemoteError) {
        try await withNetworkJob(handle, "networkSetAutostart", .any) { record throws(RemoteError) in
            guard record.isPersistent else {
                throw RemoteError(code: .operationInvalid, domain: .network, detail: "cannot set autostart for transient network")
            }
            let name = record.definition.name, store = self.store
            try await NetworkWork.run { () throws(NetworkError) in
                do throws(StoreError) { try store.setAutostart(name: name, on) } catch { throw NetworkError(.operationFailed, error.message) }
            }
            registry.update(name) { $0.autostart = on }
        }
    }

    /// The bridge a running network's guests plug into.
    func bridgeName(_ handle: RemoteNetwork) throws(RemoteError) -> String {
        let record = try registry.network(for: handle)
        guard let bridge = record.definition.bridge.name else {
            throw RemoteError(code: .internalError, domain: .network, detail: "network '\(record.definition.name)' does not have a bridge name.")
        }
        return bridge
    }
}

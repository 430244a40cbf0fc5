import CorralProtocol
import DomainXML
import Logging
import QMP
import Synchronization

/// Every domain the daemon knows, with libvirt's define/undefine rules, backed by
/// ``DefinitionStore``.
///
/// Reads (lookups, lists) take a short lock and never wait for the disk. Changes reach the disk
/// before memory, so a failed write (a full disk) changes nothing; while a definition is stored
/// its name and UUID are claimed (``State/storing``), so that no other change takes them.
/// Changes made on the thread pool are also serialised by a second lock.
final class DomainRegistry: Sendable {
    struct State {
        var byUUID: [RemoteUUID: DomainRecord] = [:]
        var uuidByName: [String: RemoteUUID] = [:]
        /// Definitions being stored, by UUID, with their names (a define waiting for its journal
        /// record, a rename for its new file): no other change takes that name or UUID
        /// meanwhile.
        var storing: [RemoteUUID: String] = [:]

        /// Gives up `claim` (when it is still this define's).
        mutating func unclaim(_ claim: DefineClaim) {
            if storing[claim.uuid] == claim.name { storing[claim.uuid] = nil }
        }

        /// The UUID of a definition of `name` being stored.
        func storingUUID(named name: String) -> RemoteUUID? {
            storing.first { $0.value == name }?.key
        }
    }

    /// A define's claim on its name and UUID while its definition is stored.
    struct DefineClaim {
        let uuid: RemoteUUID
        let name: String
        /// Whether no domain had the UUID when it was claimed.
        let isNew: Bool
    }

    private let state = Mutex(State())
    private let writer = Mutex(())
    private let store: DefinitionStore
    private let snapshotStore: SnapshotStore

    init(store: DefinitionStore, snapshotStore: SnapshotStore) {
        self.store = store
        self.snapshotStore = snapshotStore
    }

    /// At an orderly stop: waits (at most `timeout` seconds) until every definition is in its
    /// own file, flushed, and empties the journal, so that the state directory is as a reader
    /// expects it and the next start replays nothing (when this fails, it replays the journal).
    func finishDefinitionStore(timeout: Double) -> Bool {
        store.journal?.finish(timeout: timeout) ?? true
    }

    // MARK: - Loading

    /// Loads every stored definition; a file that does not parse is reported and skipped.
    func load(options: DomainXMLOptions, logger: Logger) {
        for (path, text) in store.loadAll() {
            guard let text else {
                logger.error("skipping an unreadable definition", metadata: ["file": "\(path)"])
                continue
            }
            do throws(DomainXMLError) {
                // Loaded as stored: a check added since it was defined refuses it at start, not here.
                var stored = options
                stored.checksNewDefinitions = false
                let parsed = try DomainXMLParser.parse(text, options: stored)
                let expected = store.path(for: parsed.definition.name)
                guard expected == path else {
                    logger.error("skipping a definition whose name does not match its file", metadata: ["file": "\(path)", "name": "\(parsed.definition.name)"])
                    continue
                }
                guard let uuid = RemoteUUID(parsed.definition.uuid) else { continue }
                var record = DomainRecord(
                    uuid: uuid, name: parsed.definition.name, xml: parsed.xml, definition: parsed.definition, unmodelled: parsed.unmodelled,
                    autostart: store.isAutostart(name: parsed.definition.name))
                switch snapshotStore.read(domain: record.name) {
                case .success(let tree):
                    record.snapshots = tree
                case .failure(let error):
                    logger.error("setting aside unreadable snapshot metadata", metadata: ["name": "\(record.name)", "error": "\(error)"])
                    snapshotStore.setAside(domain: record.name)
                }
                let duplicate = state.withLock { state -> Bool in
                    if state.byUUID[uuid] != nil || state.uuidByName[record.name] != nil { return true }
                    state.byUUID[uuid] = record
                    state.uuidByName[record.name] = uuid
                    return false
                }
                if duplicate { logger.error("skipping a definition that repeats a name or UUID", metadata: ["file": "\(path)"]) }
            } catch {
                logger.error("skipping a corrupt definition", metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
    }

    // MARK: - Reading

    func record(uuid: RemoteUUID) -> DomainRecord? { state.withLock { $0.byUUID[uuid] } }

    func record(name: String) -> DomainRecord? {
        state.withLock { state in state.uuidByName[name].flatMap { state.byUUID[$0] } }
    }

    func record(id: Int32) -> DomainRecord? {
        guard id >= 0 else { return nil }
        return state.withLock { state in state.byUUID.values.first { $0.id == id } }
    }

    /// The records, in no particular order, filtered by `include`.
    func records(where include: (DomainRecord) -> Bool = { _ in true }) -> [DomainRecord] {
        state.withLock { state in state.byUUID.values.filter(include) }
    }

    /// The record for a domain handle from a client: found by UUID, as libvirt does.
    func record(for handle: RemoteDomain) throws(RemoteError) -> DomainRecord {
        guard let record = record(uuid: handle.uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(handle.uuid)' (\(handle.name))")
        }
        return record
    }

    var count: Int { state.withLock { $0.byUUID.count } }

    // MARK: - Changing

    /// Defines or redefines a domain (libvirt's `virDomainObjListAdd` rules), on a thread that
    /// may wait for the disk.
    ///
    /// - Returns: The domain's handle and whether it is new.
    func define(_ parsed: ParsedDomain) throws(RemoteError) -> (RemoteDomain, isNew: Bool) {
        try writer.withLock { _ throws(RemoteError) -> (RemoteDomain, isNew: Bool) in
            let claim = try claim(parsed)
            let xml = parsed.xml
            do throws(StoreError) {
                try store.write(name: claim.name, xml: xml)
                // A new domain starts without snapshots, whatever a vanished namesake left.
                if claim.isNew { try snapshotStore.remove(domain: claim.name) }
            } catch {
                release(claim)
                throw Self.saveError(claim, error)
            }
            return commit(claim, parsed, xml: xml)
        }
    }

    /// Defines or redefines a domain as ``define(_:)`` does, its definition journaled by a write
    /// the calling event loop submits and is woken by (no thread hop) when the store can; through
    /// the thread pool otherwise.
    func defineFromEventLoop(_ parsed: ParsedDomain) async throws(RemoteError) -> (RemoteDomain, isNew: Bool) {
        let claim = try claim(parsed)
        // A new domain's stale snapshot file (a vanished namesake's) is removed on the pool.
        if !(claim.isNew && snapshotStore.mayHaveFile(domain: claim.name)) {
            let xml = parsed.xml
            let written: Bool
            do throws(StoreError) {
                written = try await store.writeFromEventLoop(name: claim.name, xml: xml)
            } catch {
                release(claim)
                throw Self.saveError(claim, error)
            }
            if written { return commit(claim, parsed, xml: xml) }
        }
        release(claim)
        return try await BlockingWork.run { () throws(RemoteError) in try self.define(parsed) }
    }

    /// Checks `parsed` against the domains defined and being stored, and claims its name and UUID.
    func claim(_ parsed: ParsedDomain) throws(RemoteError) -> DefineClaim {
        let name = parsed.definition.name
        guard let uuid = RemoteUUID(parsed.definition.uuid) else {
            throw RemoteError(code: .internalError, domain: .domain, detail: "malformed uuid '\(parsed.definition.uuid)'")
        }
        return try state.withLock { state throws(RemoteError) -> DefineClaim in
            let existing = state.byUUID[uuid]
            if let existing, existing.name != name {
                throw RemoteError(code: .operationFailed, domain: .domain, detail: "domain '\(existing.name)' is already defined with uuid \(uuid)")
            }
            if let storing = state.storing[uuid], storing != name {
                throw RemoteError(code: .operationFailed, domain: .domain, detail: "domain '\(storing)' is already defined with uuid \(uuid)")
            }
            if let clash = state.uuidByName[name].flatMap({ state.byUUID[$0] }), clash.uuid != uuid {
                throw RemoteError(code: .operationFailed, domain: .domain, detail: "domain '\(name)' already exists with uuid \(clash.uuid)")
            }
            if let other = state.storingUUID(named: name), other != uuid {
                throw RemoteError(code: .operationFailed, domain: .domain, detail: "domain '\(name)' already exists with uuid \(other)")
            }
            state.storing[uuid] = name
            return DefineClaim(uuid: uuid, name: name, isNew: existing == nil)
        }
    }

    /// Gives up a claim whose definition was not stored.
    func release(_ claim: DefineClaim) {
        state.withLock { $0.unclaim(claim) }
    }

    /// The definition of `claim` is stored (`xml`, `parsed`'s text): its record takes it (the
    /// record as it is now, so that a runtime change made meanwhile is kept).
    private func commit(_ claim: DefineClaim, _ parsed: ParsedDomain, xml: String) -> (RemoteDomain, isNew: Bool) {
        state.withLock { state in
            state.unclaim(claim)
            var record = state.byUUID[claim.uuid]
                ?? DomainRecord(uuid: claim.uuid, name: claim.name, xml: xml, definition: parsed.definition, unmodelled: parsed.unmodelled)
            record.xml = xml
            record.definition = parsed.definition
            record.unmodelled = parsed.unmodelled
            record.persistent = true
            if record.isActive { record.updated = true }
            state.byUUID[claim.uuid] = record
            state.uuidByName[claim.name] = claim.uuid
            return (record.handle, claim.isNew)
        }
    }

    private static func saveError(_ claim: DefineClaim, _ error: StoreError) -> RemoteError {
        RemoteError(code: .operationFailed, domain: .domain, detail: "cannot save the definition of '\(claim.name)': \(error.message)")
    }

    /// Renames an inactive persistent domain to the name `parsed` has (its definition with the
    /// new name): the new definition is stored, then the old one removed; autostart follows.
    func rename(_ uuid: RemoteUUID, to parsed: ParsedDomain) throws(RemoteError) -> (old: RemoteDomain, new: RemoteDomain) {
        let name = parsed.definition.name
        return try writer.withLock { _ throws(RemoteError) -> (old: RemoteDomain, new: RemoteDomain) in
            guard let record = state.withLock({ $0.byUUID[uuid] }) else {
                throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
            }
            let xml = parsed.xml
            let taken = state.withLock { state -> Bool in
                guard state.uuidByName[name] == nil, state.storingUUID(named: name) == nil, state.storing[uuid] == nil else { return true }
                state.storing[uuid] = name
                return false
            }
            guard !taken else {
                throw RemoteError(code: .operationInvalid, domain: .domain, detail: "domain with name '\(name)' already exists")
            }
            do throws(StoreError) {
                try store.write(name: name, xml: xml)
                if record.autostart { try store.setAutostart(name: name, true) }
                try store.remove(name: record.name)
            } catch {
                try? store.remove(name: name)
                state.withLock { $0.storing[uuid] = nil }
                throw RemoteError(code: .operationFailed, domain: .domain, detail: "cannot rename the definition of '\(record.name)': \(error.message)")
            }
            return state.withLock { state in
                state.storing[uuid] = nil
                var renamed = record
                renamed.name = name
                renamed.xml = xml
                renamed.definition = parsed.definition
                renamed.unmodelled = parsed.unmodelled
                state.byUUID[uuid] = renamed
                state.uuidByName[record.name] = nil
                state.uuidByName[name] = uuid
                return (record.handle, renamed.handle)
            }
        }
    }

    /// Undefines a domain; a running one becomes transient (it disappears when it stops).
    func undefine(_ handle: RemoteDomain, flags: UInt32) throws(RemoteError) {
        try writer.withLock { _ throws(RemoteError) in
            let record = try record(for: handle)
            guard record.persistent else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot undefine transient domain")
            }
            let snapshotsMetadataFlag: UInt32 = 2, nvramFlag: UInt32 = 4, keepNVRAMFlag: UInt32 = 8
            let dropsSnapshots = !record.isActive && !record.snapshots.isEmpty
            if dropsSnapshots && flags & snapshotsMetadataFlag == 0 {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot delete inactive domain with \(record.snapshots.count) snapshots")
            }
            if record.definition.os.hasNVRAM || record.definition.os.loader != nil, flags & (nvramFlag | keepNVRAMFlag) == 0 {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot undefine domain with nvram")
            }
            do throws(StoreError) {
                try store.remove(name: record.name)
            } catch {
                throw RemoteError(code: .operationFailed, domain: .domain, detail: "cannot remove the definition of '\(record.name)': \(error.message)")
            }
            // Then the snapshots' metadata: a file left by a failure here is harmless (a new
            // domain of that name starts without it).
            if dropsSnapshots { try? snapshotStore.remove(domain: record.name) }
            state.withLock { state in
                if record.isActive {
                    state.byUUID[record.uuid]?.persistent = false
                    state.byUUID[record.uuid]?.autostart = false
                } else {
                    state.byUUID[record.uuid] = nil
                    state.uuidByName[record.name] = nil
                }
            }
        }
    }

    /// Changes a record's runtime in memory (the caller holds the domain's job, or is the
    /// guest's supervisor); returns the new record.
    @discardableResult
    func updateRuntime(_ uuid: RemoteUUID, _ change: (inout DomainRecord) -> Void) -> DomainRecord? {
        state.withLock { state in
            guard state.byUUID[uuid] != nil else { return nil }
            change(&state.byUUID[uuid]!)
            return state.byUUID[uuid]
        }
    }

    /// Changes the guest of a running domain; returns what `change` returned, or `nil` when the
    /// domain does not run.
    @discardableResult
    func updateGuest<T>(_ uuid: RemoteUUID, _ change: (inout GuestRuntime) -> T) -> T? {
        state.withLock { state in
            guard state.byUUID[uuid]?.runtime != nil else { return nil }
            return change(&state.byUUID[uuid]!.runtime!)
        }
    }

    /// The guest of a running domain.
    func guest(_ uuid: RemoteUUID) -> GuestRuntime? {
        state.withLock { $0.byUUID[uuid]?.runtime }
    }

    /// For the passthrough fast path: the domain of `handle`, the passthrough monitor the
    /// connection is pinned to, and that monitor's session when it is open, in one lookup.
    func passthroughTarget(for handle: RemoteDomain, connectionID: UInt64) throws(RemoteError) -> (uuid: RemoteUUID, monitor: Int, session: QMPClient?) {
        let found = state.withLock { state -> (RemoteUUID, Int, QMPClient?)? in
            guard let record = state.byUUID[handle.uuid] else { return nil }
            guard let sessions = record.runtime?.passthroughSessions else { return (record.uuid, 0, nil) }
            let monitor = GuestRuntime.passthroughMonitor(connectionID: connectionID, monitors: sessions.count)
            return (record.uuid, monitor, sessions[monitor])
        }
        guard let (uuid, monitor, session) = found else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(handle.uuid)' (\(handle.name))")
        }
        return (uuid, monitor, session.flatMap { $0.isOpen ? $0 : nil })
    }

    /// Every running domain.
    func runningUUIDs() -> [RemoteUUID] {
        state.withLock { state in state.byUUID.values.filter(\.isActive).map(\.uuid) }
    }

    /// Adds a transient domain (`DOMAIN_CREATE_XML`), refusing a name or UUID in use.
    func addTransient(_ parsed: ParsedDomain) throws(RemoteError) -> DomainRecord {
        guard let uuid = RemoteUUID(parsed.definition.uuid) else {
            throw RemoteError(code: .internalError, domain: .domain, detail: "malformed uuid '\(parsed.definition.uuid)'")
        }
        let name = parsed.definition.name
        return try writer.withLock { _ throws(RemoteError) -> DomainRecord in
            try state.withLock { state throws(RemoteError) -> DomainRecord in
                if let existing = state.byUUID[uuid] {
                    throw RemoteError(code: .operationFailed, domain: .domain, detail: "domain '\(existing.name)' is already defined with uuid \(uuid)")
                }
                if let other = state.uuidByName[name] ?? state.storingUUID(named: name) {
                    throw RemoteError(code: .operationFailed, domain: .domain, detail: "domain '\(name)' already exists with uuid \(other)")
                }
                if let storing = state.storing[uuid] {
                    throw RemoteError(code: .operationFailed, domain: .domain, detail: "domain '\(storing)' is already defined with uuid \(uuid)")
                }
                var record = DomainRecord(uuid: uuid, name: name, xml: parsed.xml, definition: parsed.definition, unmodelled: parsed.unmodelled)
                record.persistent = false
                state.byUUID[uuid] = record
                state.uuidByName[name] = uuid
                return record
            }
        }
    }

    /// Forgets a domain that is neither running nor persistent.
    func removeIfTransient(_ uuid: RemoteUUID) {
        let removed = state.withLock { state -> DomainRecord? in
            guard let record = state.byUUID[uuid], !record.persistent, !record.isActive else { return nil }
            state.byUUID[uuid] = nil
            state.uuidByName[record.name] = nil
            return record
        }
        // A transient domain's snapshots go with it, as libvirt's do.
        if let removed, !removed.snapshots.isEmpty { try? snapshotStore.remove(domain: removed.name) }
    }

    /// Replaces a domain's snapshot tree: on disk first (atomically), then in memory. The caller
    /// holds the domain's job.
    func replaceSnapshots(_ uuid: RemoteUUID, with tree: SnapshotTree) throws(RemoteError) {
        try writer.withLock { _ throws(RemoteError) in
            guard let record = state.withLock({ $0.byUUID[uuid] }) else {
                throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
            }
            do throws(StoreError) { try snapshotStore.write(tree, domain: record.name) } catch {
                throw RemoteError(code: .operationFailed, domain: .domainSnapshot, detail: "unable to save metadata for snapshots of '\(record.name)': \(error.message)")
            }
            state.withLock { $0.byUUID[uuid]?.snapshots = tree }
        }
    }

    /// Sets autostart.
    func setAutostart(_ handle: RemoteDomain, _ on: Bool) throws(RemoteError) {
        try writer.withLock { _ throws(RemoteError) in
            let record = try record(for: handle)
            guard record.persistent else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot set autostart for transient domain")
            }
            do throws(StoreError) {
                try store.setAutostart(name: record.name, on)
            } catch {
                throw RemoteError(code: .operationFailed, domain: .domain, detail: error.message)
            }
            state.withLock { $0.byUUID[record.uuid]?.autostart = on }
        }
    }
}

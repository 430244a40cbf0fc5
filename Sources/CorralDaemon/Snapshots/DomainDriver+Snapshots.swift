import CorralJSON
import CorralProtocol
import CorralStorage
import DomainXML
import Foundation
import Glibc
import Logging
import QEMUCommandLine
import QMP
import XMLTree

/// Taking, redefining, reverting to and deleting snapshots. Every entry point runs in the
/// domain's job (the caller holds it); the metadata is written after the images changed, in one
/// atomic write (``SnapshotStore``).
///
/// Internal snapshots live in the domain's qcow2 images: a running guest's through QEMU's
/// `snapshot-save`/`snapshot-delete` jobs (QMP, so no name passes through HMP's parser) with its
/// memory, and a revert starts a new QEMU with `-loadvm`, as libvirt 9.0 does; a shut-off
/// domain's through `qemu-img snapshot`. External (disk-only) snapshots are in
/// `DomainDriver+ExternalSnapshots.swift`.
extension DomainDriver {
    /// How long a QEMU snapshot job may take before the daemon gives up waiting.
    static let snapshotJobTimeout: Duration = .seconds(3600)

    // MARK: - Creating

    /// `virDomainSnapshotCreateXML`: takes (or, with `redefine`, records) a snapshot; returns
    /// its name.
    func createSnapshot(_ uuid: RemoteUUID, xml: String, flags: SnapshotCreateFlags) async throws(RemoteError) -> String {
        let record = try snapshotRecord(uuid)
        if flags.contains(.halt) && !record.persistent {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot halt after transient domain snapshot")
        }
        let now = Int64(Date().timeIntervalSince1970)
        let mode: DomainSnapshot.ParseMode = flags.contains(.redefine) ? .redefine : .create(offline: !record.isActive || flags.contains(.diskOnly))
        let requested: DomainSnapshot
        do throws(DomainXMLError) {
            requested = try DomainSnapshot.parse(xml, mode: mode, now: now, limits: options.limits)
        } catch {
            throw Self.snapshotXMLError(error)
        }
        if !flags.contains(.noMetadata) {
            if requested.name.contains("/") {
                throw RemoteError(code: .xmlDetail, domain: .domainSnapshot, detail: "invalid snapshot name '\(requested.name)': name can't contain '/'")
            }
            if requested.name.hasPrefix(".") {
                throw RemoteError(code: .xmlDetail, domain: .domainSnapshot, detail: "invalid snapshot name '\(requested.name)': name can't start with '.'")
            }
        }
        if flags.contains(.live) && (!record.isActive || requested.memory != .external) {
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "live snapshot creation is supported only during full system snapshots")
        }
        let state = flags.contains(.redefine) ? requested.state ?? .nostate : SnapshotPlan.snapshotState(record.state)
        switch state {
        case .running, .paused, .shutdown, .shutoff, .crashed:
            break
        case .diskSnapshot where flags.contains(.redefine):
            break
        case .pmsuspended:
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "qemu doesn't support taking snapshots of PMSUSPENDED guests")
        case .nostate, .blocked, .diskSnapshot:
            throw RemoteError(code: .internalError, domain: .qemu, detail: "Invalid domain state \(state.rawValue)")
        }
        if flags.contains(.redefine) { return try await redefineSnapshot(requested, record: record, flags: flags) }
        return try await takeSnapshot(requested, record: record, flags: flags)
    }

    /// Records a snapshot described in full (`--redefine`): OpenNebula and virsh re-create
    /// snapshot metadata this way. Nothing on disk changes.
    private func redefineSnapshot(_ requested: DomainSnapshot, record: DomainRecord, flags: SnapshotCreateFlags) async throws(RemoteError) -> String {
        var snapshot = requested
        var tree = record.snapshots
        if flags.contains(.diskOnly) && snapshot.state != .diskSnapshot {
            throw RemoteError(code: .invalidArgument, domain: .domainSnapshot, detail: "disk-only flag for snapshot \(snapshot.name) requires disk-snapshot state")
        }
        if let parent = snapshot.parent {
            guard parent != snapshot.name else {
                throw RemoteError(code: .invalidArgument, domain: .domainSnapshot, detail: "cannot set moment \(snapshot.name) as its own parent")
            }
            guard tree[parent] != nil else {
                throw RemoteError(code: .invalidArgument, domain: .domainSnapshot, detail: "parent \(parent) for moment \(snapshot.name) not found")
            }
            var ancestor: String? = parent
            var steps = 0
            while let name = ancestor, steps <= tree.count {
                let next = tree[name]?.parent
                if next == snapshot.name {
                    throw RemoteError(code: .invalidArgument, domain: .domainSnapshot, detail: "parent \(name) would create cycle to \(snapshot.name)")
                }
                ancestor = next
                steps += 1
            }
        }
        // The definitions it holds are read as any definition is.
        let domain: ParsedDomain?
        do throws(DomainXMLError) {
            domain = try snapshot.domain.map { element throws(DomainXMLError) in try DomainXMLParser.parse(element, options: options) }
            snapshot.inactiveDomain = try snapshot.inactiveDomain.map { element throws(DomainXMLError) in
                var renamed = element
                renamed.name = "domain"
                var document = try DomainXMLParser.parse(renamed, options: options).document
                document.name = "inactiveDomain"
                return document
            }
        } catch {
            throw RemoteError(domainXMLError: error)
        }
        if let domain {
            guard RemoteUUID(domain.definition.uuid) == record.uuid else {
                throw RemoteError(code: .invalidArgument, domain: .domainSnapshot, detail: "definition for snapshot \(snapshot.name) must use uuid \(record.uuid)")
            }
            snapshot.domain = domain.document
        }
        if let existing = tree[snapshot.name], let existingState = existing.state, let newState = snapshot.state {
            let online: (DomainSnapshot.State) -> Bool = { $0 == .running || $0 == .paused }
            if online(existingState) != online(newState) {
                throw RemoteError(code: .invalidArgument, domain: .domainSnapshot, detail: "cannot change between online and offline snapshot state in snapshot \(snapshot.name)")
            }
            if (existingState == .diskSnapshot) != (newState == .diskSnapshot) {
                throw RemoteError(code: .invalidArgument, domain: .domainSnapshot, detail: "cannot change between disk only and full system in snapshot \(snapshot.name)")
            }
        }
        let definition = domain?.definition ?? (try? DomainXMLParser.parse(tree[snapshot.name]?.domain ?? XMLElement(name: "none"), options: options))?.definition
        guard let definition else { throw RemoteError(code: .internalError, domain: .domainSnapshot, detail: "missing domain in snapshot") }
        let external = snapshot.state == .diskSnapshot || snapshot.isExternal
        snapshot.disks = try SnapshotPlan.alignDisks(snapshot, definition: definition, defaultLocation: external ? .external : .internal) { _ in .regular }
        tree.add(snapshot)
        if flags.contains(.current) { tree.setCurrent(snapshot.name) }
        try await storeSnapshots(record.uuid, tree)
        return snapshot.name
    }

    /// Takes a new snapshot of the domain as it is now.
    private func takeSnapshot(_ requested: DomainSnapshot, record: DomainRecord, flags: SnapshotCreateFlags) async throws(RemoteError) -> String {
        var flags = flags
        // The definition the snapshot records: what the guest runs by, or the definition.
        let current: ParsedDomain
        var inactive: XMLElement?
        let liveDocument = try record.runtime.map { guest throws(RemoteError) in try self.liveDocument(guest) }
        do throws(DomainXMLError) {
            if let liveDocument {
                current = try DomainXMLParser.parse(DomainXMLFormatter.format(LiveDomainXML.inactiveForm(
                    liveDocument.document, added: record.runtime?.runAdditions ?? .init())), options: options)
                // libvirt records a running domain's persistent definition whether or not it
                // differs (its newDef).
                if record.persistent {
                    var document = try DomainXMLParser.parse(record.xml, options: options).document
                    document.name = "inactiveDomain"
                    inactive = document
                }
            } else {
                current = try DomainXMLParser.parse(record.xml, options: options)
            }
        } catch {
            throw RemoteError(domainXMLError: error)
        }
        // The disks as they are now (a running guest's, with hot-plugged ones), volumes resolved.
        let resolved = try resolveVolumeDisks(liveDocument?.definition ?? current.definition)
        let requestedFlags = flags
        let plan = try await BlockingWork.run { () throws(RemoteError) -> SnapshotPlan in
            try SnapshotPlan(requested, definition: resolved, state: record.state, flags: requestedFlags, fileKind: Self.fileKind)
        }
        if plan.kind == .external && !record.isActive { flags.insert(.diskOnly) }
        var snapshot = plan.snapshot
        snapshot.domain = current.document
        snapshot.inactiveDomain = inactive
        if let liveDocument, let guest = record.runtime { snapshot.cookie = SaveCookie.of(liveDocument, asked: guest.askedCPU) }
        if record.snapshots[snapshot.name] != nil && !flags.contains(.noMetadata) {
            throw RemoteError(code: .operationFailed, domain: .domain, detail: "domain moment \(snapshot.name) already exists")
        }
        if !flags.contains(.noMetadata) { snapshot.parent = record.snapshots.current }

        switch (plan.kind, record.runtime) {
        case (.internal, let guest?):
            try await takeInternalSnapshot(snapshot.name, of: record, guest: guest, disks: resolved, halt: flags.contains(.halt))
        case (.internal, nil):
            try await Self.qemuImgSnapshots("-c", snapshot.name, disks: Self.internalImages(snapshot, resolved))
        case (.external, let guest?):
            try await takeExternalSnapshot(snapshot, of: record, guest: guest, flags: flags)
        case (.external, nil):
            try await takeInactiveExternalSnapshot(snapshot, of: record, disks: resolved, reuse: flags.contains(.reuseExternal))
        }
        if !flags.contains(.noMetadata) {
            // The disks hold the snapshot now; a failure to record it must say so.
            var tree = registry.record(uuid: record.uuid)?.snapshots ?? record.snapshots
            tree.add(snapshot)
            tree.setCurrent(snapshot.name)
            try await storeSnapshots(record.uuid, tree)
        }
        logger.info("took snapshot", metadata: ["name": "\(record.name)", "snapshot": "\(snapshot.name)", "kind": "\(plan.kind)"])
        return snapshot.name
    }

    /// The images of the disks that hold `snapshot` internally, from `definition`.
    static func internalImages(_ snapshot: DomainSnapshot, _ definition: DomainDefinition) -> [String] {
        let names = Set(snapshot.internalDisks)
        return definition.devices.disks.filter { names.contains($0.targetDevice) && $0.format == "qcow2" }.compactMap(\.source)
    }

    /// A running guest's internal snapshot, memory included: the vCPUs pause (libvirt's
    /// `PAUSED_SNAPSHOT`), QEMU's `snapshot-save` job writes the state into the qcow2 images,
    /// and the guest runs again — or stops, with `halt`.
    private func takeInternalSnapshot(_ name: String, of record: DomainRecord, guest: GuestRuntime, disks: DomainDefinition, halt: Bool) async throws(RemoteError) {
        let nodes = Self.internalSnapshotNodes(guest, disks)
        guard let vmstate = nodes.first else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "no disk can hold the guest's state") }
        let wasRunning = guest.lifecycle.status.state == .running
        if wasRunning {
            await apply(.pauseRequested(.snapshot), to: record.uuid)
            do throws(QMPError) { try await guest.qmp.stop() } catch { throw Self.monitorError(error) }
            await apply(.pausedByRequest, to: record.uuid)
        }
        longJobs.begin(record.uuid, .snapshot, qmp: nil, cancellable: false)
        do throws(RemoteError) {
            try await Self.runSnapshotJob(
                "snapshot-save", [("tag", .string(name)), ("vmstate", .string(vmstate)), ("devices", .array(nodes.map { .string($0) }))], qmp: guest.qmp)
        } catch {
            endJob(record.uuid, handle: record.handle, error: error)
            if wasRunning, (try? await guest.qmp.cont()) != nil { await apply(.resumedByRequest, to: record.uuid) }
            throw error
        }
        endJob(record.uuid, handle: record.handle, error: nil)
        if halt {
            await apply(.stoppingForSnapshot, to: record.uuid)
            try await destroy(record.uuid, graceful: false)
        } else if wasRunning {
            do throws(QMPError) { try await guest.qmp.cont() } catch {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "resuming after snapshot failed")
            }
            await apply(.resumedByRequest, to: record.uuid)
        }
    }

    /// The format nodes of a running guest's writable qcow2 disks: where an internal snapshot
    /// goes (the first also holds the memory).
    static func internalSnapshotNodes(_ guest: GuestRuntime, _ definition: DomainDefinition) -> [String] {
        definition.devices.disks.enumerated().compactMap { index, disk in
            guard disk.source != nil, !disk.readonly, disk.format == "qcow2", index < guest.devices.disks.count else { return nil }
            return guest.devices.disks[index].formatNode
        }
    }

    /// Runs a QEMU snapshot job (`snapshot-save`, `snapshot-delete`) to its end; QEMU's own
    /// message is the error when it fails.
    static func runSnapshotJob(_ command: String, _ arguments: [(String, JSONValue)], qmp: QMPClient) async throws(RemoteError) {
        let id = "corral-\(command)"
        do throws(QMPError) {
            _ = try await qmp.execute(command, arguments: .object([("job-id", .string(id))] + arguments))
        } catch {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "\(command) failed: \(error.message)")
        }
        let deadline = ContinuousClock.now + snapshotJobTimeout
        while ContinuousClock.now < deadline {
            let jobs: JSONValue
            do throws(QMPError) { jobs = try await qmp.execute("query-jobs") } catch { throw monitorError(error) }
            let job = jobs.arrayValue?.first { $0["id"]?.stringValue == id }
            if job == nil || job?["status"]?.stringValue == "concluded" || job?["status"]?.stringValue == "null" {
                _ = try? await qmp.execute("job-dismiss", arguments: .object([("id", .string(id))]))
                if let message = job?["error"]?.stringValue {
                    throw RemoteError(code: .operationFailed, domain: .qemu, detail: "\(command) failed: \(message)")
                }
                return
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        throw RemoteError(code: .operationTimeout, domain: .qemu, detail: "\(command) did not finish")
    }

    /// `qemu-img snapshot OPERATION NAME` on each image (create `-c`, apply `-a`, delete `-d`).
    /// With `tolerateMissing`, an image without the snapshot is fine (a delete finishing one a
    /// crash interrupted).
    static func qemuImgSnapshots(_ operation: String, _ name: String, disks: [String], tolerateMissing: Bool = false) async throws(RemoteError) {
        try await BlockingWork.run { () throws(RemoteError) in
            for image in disks {
                do throws(StorageError) {
                    try QemuImg.run(["snapshot", operation, name, "--", image])
                } catch {
                    if tolerateMissing && error.message.contains("not found") { continue }
                    throw RemoteError(code: .operationFailed, domain: .qemu, detail: "qemu-img snapshot \(operation) '\(name)' on \(image): \(error.message)")
                }
            }
        }
    }

    // MARK: - Reverting

    /// `virDomainRevertToSnapshot` (libvirt 9.0's transitions): a snapshot with memory starts a
    /// new QEMU that loads it (`-loadvm`), running or paused as it was taken (or as `flags`
    /// say); a shut-off one applies to the images (`qemu-img snapshot -a`) and leaves the
    /// domain off unless asked to run. The domain's definition becomes the snapshot's.
    func revertToSnapshot(_ uuid: RemoteUUID, name: String, flags: SnapshotRevertFlags) async throws(RemoteError) {
        let record = try snapshotRecord(uuid)
        let snapshot = try Self.snapshot(name, in: record)
        let state = snapshot.state ?? .nostate
        let online = state == .running || state == .paused
        if !record.persistent && !online && flags.isDisjoint(with: [.running, .paused]) {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "transient domain needs to request run or pause to revert to inactive snapshot")
        }
        if snapshot.isExternal || state == .diskSnapshot {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "revert to external snapshot not supported yet")
        }
        guard var config = snapshot.domain else {
            throw RemoteError(code: .snapshotRevertRisky, domain: .domainSnapshot, detail: "snapshot '\(name)' lacks domain '\(record.name)' rollback info")
        }
        if !flags.contains(.force) && record.hasManagedSave && !online {
            throw RemoteError(
                code: .snapshotRevertRisky, domain: .domainSnapshot,
                detail: "snapshot without memory state, removal of existing managed saved state strongly recommended to avoid corruption")
        }
        // The snapshot's definitions, under the domain's present name.
        Self.rename(&config, to: record.name)
        var inactive = snapshot.inactiveDomain ?? config
        inactive.name = "domain"
        Self.rename(&inactive, to: record.name)
        let parsedConfig: ParsedDomain, parsedInactive: ParsedDomain
        do throws(DomainXMLError) {
            parsedConfig = try DomainXMLParser.parse(config, options: options)
            parsedInactive = try DomainXMLParser.parse(inactive, options: options)
        } catch {
            throw RemoteError(domainXMLError: error)
        }
        if record.isActive {
            // A transient domain stopped for a revert stays known (see `guestExited`).
            await apply(.stoppingForSnapshot, to: uuid)
            try await destroy(uuid, graceful: false)
        }
        do throws(RemoteError) {
            if record.persistent {
                _ = try await BlockingWork.run { () throws(RemoteError) in try self.registry.define(parsedInactive) }
            }
            if online {
                let paused = !flags.contains(.running) && (state == .paused || flags.contains(.paused))
                _ = try await start(uuid, paused: paused, autodestroyConnection: nil, live: parsedConfig, loadSnapshot: name)
            } else {
                let images = Self.internalImages(snapshot, try resolveVolumeDisks(parsedConfig.definition))
                try await Self.qemuImgSnapshots("-a", name, disks: images)
                if !flags.isDisjoint(with: [.running, .paused]) {
                    _ = try await start(uuid, paused: flags.contains(.paused), autodestroyConnection: nil, live: parsedConfig)
                }
            }
        } catch {
            // A transient domain that did not start again is gone, as any stopped one is.
            registry.removeIfTransient(uuid)
            throw error
        }
        var tree = registry.record(uuid: uuid)?.snapshots ?? record.snapshots
        tree.setCurrent(name)
        try await storeSnapshots(uuid, tree)
        // Last, as libvirt reports it: the definition the domain now has.
        if record.persistent { events.lifecycle(registry.record(uuid: uuid)?.handle ?? record.handle, .definedFromSnapshot) }
        logger.info("reverted to snapshot", metadata: ["name": "\(record.name)", "snapshot": "\(name)"])
    }

    /// Sets the `<name>` of a `<domain>` element.
    static func rename(_ document: inout XMLElement, to name: String) {
        document.updateElements { element in
            if element.name == "name" && element.namespace == nil { element.setText(name) }
        }
    }

    // MARK: - Deleting

    /// `virDomainSnapshotDelete`: removes a snapshot (its children move to its parent), or it
    /// and its descendants (`children`), or only its descendants (`childrenOnly`); from the
    /// images too unless `metadataOnly`.
    func deleteSnapshot(_ uuid: RemoteUUID, name: String, flags: SnapshotDeleteFlags) async throws(RemoteError) {
        let record = try snapshotRecord(uuid)
        _ = try Self.snapshot(name, in: record)
        var tree = record.snapshots
        let descendants = tree.descendants(of: name)
        let targets = flags.contains(.childrenOnly) ? descendants : flags.contains(.children) ? [name] + descendants : [name]
        if !flags.contains(.metadataOnly) {
            for target in targets where tree[target]?.isExternal == true || tree[target]?.state == .diskSnapshot {
                throw RemoteError(
                    code: .operationUnsupported, domain: .qemu,
                    detail: "deleting the images of external snapshot '\(target)' is not supported by Corral; delete its metadata (--metadata) and merge the overlay with qemu-img or blockcommit")
            }
            // Deepest first, so that a failure part-way leaves a smaller tree that is still whole.
            for target in targets.reversed() {
                guard let snapshot = tree[target], !snapshot.internalDisks.isEmpty else { continue }
                try await deleteInternalSnapshot(snapshot, of: registry.record(uuid: uuid) ?? record)
            }
        }
        // Deepest first: a removed current snapshot hands "current" to its parent, which ends
        // with the deleted subtree's parent (or, for children only, the snapshot itself).
        for target in targets.reversed() { tree.remove(target) }
        try await storeSnapshots(uuid, tree)
        logger.info("deleted snapshot", metadata: ["name": "\(record.name)", "snapshot": "\(name)", "count": "\(targets.count)"])
    }

    /// Removes an internal snapshot from the images: through QEMU when the guest runs (its
    /// images are open), else `qemu-img`. An image that no longer holds it is fine.
    private func deleteInternalSnapshot(_ snapshot: DomainSnapshot, of record: DomainRecord) async throws(RemoteError) {
        if let guest = record.runtime {
            let live = try liveDocument(guest).definition
            let nodes = Self.internalSnapshotNodes(guest, live)
            guard !nodes.isEmpty else { return }
            do throws(RemoteError) {
                try await Self.runSnapshotJob("snapshot-delete", [("tag", .string(snapshot.name)), ("devices", .array(nodes.map { .string($0) }))], qmp: guest.qmp)
            } catch where error.message?.contains("not found") == true || error.message?.contains("does not exist") == true {
                return
            }
        } else {
            let definition = try resolveVolumeDisks(try DomainXMLParser.parseOrThrow(record.xml, options: options).definition)
            let images = Self.internalImages(snapshot, definition)
            try await Self.qemuImgSnapshots("-d", snapshot.name, disks: images, tolerateMissing: true)
        }
    }

    // MARK: - Shared

    /// The record of a domain whose snapshots are about to change.
    func snapshotRecord(_ uuid: RemoteUUID) throws(RemoteError) -> DomainRecord {
        guard let record = registry.record(uuid: uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
        }
        return record
    }

    /// The snapshot `name` of `record`.
    static func snapshot(_ name: String, in record: DomainRecord) throws(RemoteError) -> DomainSnapshot {
        guard let snapshot = record.snapshots[name] else {
            throw RemoteError(code: .noDomainSnapshot, domain: .domainSnapshot, detail: "no domain snapshot with matching name '\(name)'")
        }
        return snapshot
    }

    /// Stores a domain's snapshot tree (off the event loops).
    func storeSnapshots(_ uuid: RemoteUUID, _ tree: SnapshotTree) async throws(RemoteError) {
        try await BlockingWork.run { () throws(RemoteError) in try self.registry.replaceSnapshots(uuid, with: tree) }
    }

    /// What `path` is on this host.
    nonisolated static func fileKind(_ path: String) -> SnapshotPlan.FileKind {
        var status = stat()
        guard stat(path, &status) == 0 else { return .missing }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFBLK: return .block
        default: return .other
        }
    }

    /// A snapshot document that does not parse, in libvirt's words.
    static func snapshotXMLError(_ error: DomainXMLError) -> RemoteError {
        switch error.kind {
        case .malformed: RemoteError(code: .xmlDetail, domain: .xml, detail: "(domain_snapshot):\(error.line ?? 0): \(error.message)")
        case .invalid: RemoteError(code: .xmlError, domain: .domainSnapshot, detail: error.message)
        case .unsupported: RemoteError(code: .configUnsupported, domain: .domainSnapshot, detail: error.message)
        case .detail: RemoteError(code: .xmlDetail, domain: .domainSnapshot, detail: error.message)
        case .namespace, .internalError: RemoteError(code: .internalError, domain: .domainSnapshot, detail: error.message)
        }
    }
}

extension DomainXMLParser {
    /// Parses `xml`, with the error as the client sees it.
    static func parseOrThrow(_ xml: String, options: DomainXMLOptions) throws(RemoteError) -> ParsedDomain {
        do throws(DomainXMLError) { return try parse(xml, options: options) } catch { throw RemoteError(domainXMLError: error) }
    }
}

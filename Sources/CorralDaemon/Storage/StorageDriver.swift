import CorralProtocol
import CorralStorage
import Foundation
import Logging
import XMLTree

/// The storage driver: pools and their volumes, as libvirt's storage driver.
///
/// Every change to a pool runs in the pool's job (one at a time, in order). Long volume work —
/// cloning, wiping, a stream writing a volume — marks the volume busy instead of holding the job,
/// so the pool keeps serving; a pool with busy volumes cannot be stopped or deleted, and a busy
/// volume cannot be deleted (libvirt's `asyncjobs`). Blocking work runs on ``StorageWork``.
final class StorageDriver: Sendable {
    let registry = StorageRegistry()
    let jobs = DomainJobs()
    let events: StorageEvents
    private let store: DefinitionStore
    /// The definitions of running pools (`run-dir/pools/NAME.xml`; not `storage/`, which is
    /// libvirtd's when the two share a run directory), so a restarted daemon
    /// finds them running again, transient ones included (libvirt's pool status files).
    private let liveStore: DefinitionStore
    private let logger: Logger
    /// Which running domain uses a volume of a pool as a disk, if any (such a volume is not
    /// deleted, wiped or overwritten).
    private let domainUsingVolume: @Sendable (_ pool: String, _ volume: VolumeDescription) -> String?

    init(
        stateDirectory: String, runDirectory: String, events: StorageEvents, logger: Logger,
        domainUsingVolume: @escaping @Sendable (String, VolumeDescription) -> String?
    ) throws {
        store = try DefinitionStore(directory: stateDirectory + "/storage", autostartDirectory: stateDirectory + "/storage/autostart")
        liveStore = try DefinitionStore(directory: runDirectory + "/pools", autostartDirectory: runDirectory + "/pools/autostart")
        self.events = events
        self.logger = logger
        self.domainUsingVolume = domainUsingVolume
    }

    // MARK: Loading and autostart

    /// Reads the stored definitions (at start-up).
    func load() {
        for (path, xml) in store.loadAll() {
            guard let xml else { continue }
            do throws(StorageError) {
                let definition = try PoolDefinition.parse(xml, newUUID: { UUID().uuidString.lowercased() })
                var record = PoolRecord(definition: definition, isPersistent: true)
                record.autostart = store.isAutostart(name: definition.name)
                registry.store(record)
            } catch {
                logger.error("ignoring a pool definition that does not read", metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
    }

    /// Pools that ran when the daemon stopped run again (their live definitions), then those
    /// marked autostart start.
    func autostartAll() async {
        for (path, xml) in liveStore.loadAll() {
            guard let xml, let live = try? PoolDefinition.parse(xml, newUUID: { UUID().uuidString.lowercased() }) else {
                logger.error("ignoring a running pool's status that does not read", metadata: ["file": "\(path)"])
                continue
            }
            var record = registry.pool(named: live.name) ?? PoolRecord(definition: live, isPersistent: false)
            if record.definition != live { record.runOnce(live) }
            do throws(RemoteError) {
                let scan = try await StorageWork.run { () throws(StorageError) in try PoolBackends.start(live) }
                record.apply(scan)
                record.isActive = true
                registry.store(record)
            } catch {
                logger.error("a pool that ran before the restart cannot run again", metadata: ["pool": "\(live.name)", "error": "\(error.message ?? "")"])
                let liveStore = self.liveStore
                _ = try? await StorageWork.run { () throws(StorageError) in try? liveStore.remove(name: live.name) }
            }
        }
        for record in registry.all() where record.autostart && !record.isActive {
            do throws(RemoteError) {
                try await start(record.handle, flags: 0)
            } catch {
                logger.error("could not autostart pool", metadata: ["pool": "\(record.definition.name)", "error": "\(error.message ?? "")"])
            }
        }
    }

    /// Defines and starts the `default` pool at `path` when no pool exists yet (as libvirt's
    /// packaging does), so `virt-install --disk size=N` works on a fresh host.
    func createDefaultPoolIfNone(path: String) async {
        guard registry.all().isEmpty else { return }
        let xml = "<pool type='dir'><name>default</name><target><path>\(XMLTreeWriter.escape(path, attribute: false))</path></target></pool>"
        do throws(RemoteError) {
            let handle = try await define(xml: xml)
            try await build(handle, flags: 0)
            try await setAutostart(handle, true)
            try await start(handle, flags: 0)
            logger.info("created the default storage pool", metadata: ["path": "\(path)"])
        } catch {
            logger.error("could not create the default storage pool", metadata: ["error": "\(error.message ?? "")"])
        }
    }

    // MARK: Pools

    private func parse(_ xml: String) throws(RemoteError) -> PoolDefinition {
        let definition: PoolDefinition
        do throws(StorageError) {
            definition = try PoolDefinition.parse(xml, newUUID: { UUID().uuidString.lowercased() })
        } catch {
            throw RemoteError(error)
        }
        guard definition.type.isSupported else {
            throw RemoteError(code: .internalError, domain: .storage, detail: "missing backend for pool type \(definition.type.libvirtNumber) (\(definition.type.rawValue))")
        }
        return definition
    }

    /// libvirt's duplicate checks: the same name with another UUID, the same UUID with another
    /// name, another pool on the same storage.
    private func checkDuplicates(_ definition: PoolDefinition, mustNotBeActive: Bool) throws(RemoteError) {
        if let byUUID = registry.pool(uuid: definition.uuid), byUUID.definition.name != definition.name {
            throw RemoteError(code: .operationFailed, domain: .storage, detail: "pool '\(byUUID.definition.name)' is already defined with uuid \(definition.uuid)")
        }
        if let byName = registry.pool(named: definition.name) {
            if byName.definition.uuid != definition.uuid {
                throw RemoteError(code: .operationFailed, domain: .storage, detail: "pool '\(definition.name)' already exists with uuid \(byName.definition.uuid)")
            }
            if mustNotBeActive && byName.isActive {
                throw RemoteError(code: .operationInvalid, domain: .storage, detail: "storage pool '\(definition.name)' is already active")
            }
        }
        for other in registry.all() where other.definition.name != definition.name && other.definition.sharesSource(with: definition) {
            throw RemoteError(code: .operationFailed, domain: .storage, detail: "Storage source conflict with pool: '\(other.definition.name)'")
        }
    }

    /// `virStoragePoolDefineXML`.
    func define(xml: String) async throws(RemoteError) -> RemoteStoragePool {
        let definition = try parse(xml)
        return try await jobs.run(definition.name, "storagePoolDefineXML") { () throws(RemoteError) -> RemoteStoragePool in
            try checkDuplicates(definition, mustNotBeActive: false)
            let text = PoolXMLFormatter.format(definition)
            let store = self.store
            try await StorageWork.run { () throws(StorageError) in
                do throws(StoreError) { try store.write(name: definition.name, xml: text) } catch { throw StorageError(.operationFailed, error.message) }
            }
            let existing = registry.pool(named: definition.name)
            var record = existing ?? PoolRecord(definition: definition, isPersistent: true)
            record.assignPersistent(definition)
            registry.store(record)
            events.emit(.defined, pool: record.handle)
            return record.handle
        }
    }

    /// `virStoragePoolCreateXML`: a transient pool, started.
    func create(xml: String, flags: UInt32) async throws(RemoteError) -> RemoteStoragePool {
        try Self.checkFlags(flags, allowed: 7, function: "storagePoolCreateXML")
        let definition = try parse(xml)
        return try await jobs.run(definition.name, "storagePoolCreateXML") { () throws(RemoteError) -> RemoteStoragePool in
            try checkDuplicates(definition, mustNotBeActive: true)
            try Self.checkBuildFlags(Self.buildFlags(ofCreate: flags))
            // Over an inactive persistent pool of the same name and UUID, this definition runs
            // once and the stored one comes back at the next stop (libvirt's live definition).
            var record = PoolRecord(definition: definition, isPersistent: false)
            if let existing = registry.pool(named: definition.name) {
                record = existing
                record.runOnce(definition)
            }
            let buildFlags = Self.buildFlags(ofCreate: flags)
            if flags & 1 != 0 {
                try await StorageWork.run { () throws(StorageError) in try PoolBackends.build(definition, flags: buildFlags) }
            }
            let scan = try await StorageWork.run { () throws(StorageError) in try PoolBackends.start(definition) }
            record.apply(scan)
            record.isActive = true
            try await writeLiveStatus(definition)
            registry.store(record)
            events.emit(.started, pool: record.handle)
            return record.handle
        }
    }

    /// What a pool must be for an operation, with libvirt's message when it is not.
    enum PoolRequirement {
        case active
        /// Inactive; `already` for operations that start it ("is already active"), else "is
        /// still active".
        case inactive(already: Bool)
        case any
    }

    /// Runs `body` inside the pool's job, with the pool as it is once the job is held, after
    /// checking `requirement`.
    private func withPoolJob<T: Sendable>(
        _ handle: RemoteStoragePool, _ operation: String, _ requirement: PoolRequirement,
        _ body: (PoolRecord) async throws(RemoteError) -> T
    ) async throws(RemoteError) -> T {
        let name = try registry.pool(for: handle).definition.name
        return try await jobs.run(name, operation) { () throws(RemoteError) -> T in
            let record = try registry.pool(for: handle)
            switch requirement {
            case .active where !record.isActive:
                throw RemoteError(code: .operationInvalid, domain: .storage, detail: "storage pool '\(name)' is not active")
            case .inactive(let already) where record.isActive:
                throw RemoteError(code: .operationInvalid, domain: .storage, detail: "storage pool '\(name)' is \(already ? "already" : "still") active")
            default:
                return try await body(record)
            }
        }
    }

    /// `virStoragePoolCreate`: starts a defined pool.
    func start(_ handle: RemoteStoragePool, flags: UInt32) async throws(RemoteError) {
        try Self.checkFlags(flags, allowed: 7, function: "storagePoolCreate")
        try await withPoolJob(handle, "storagePoolCreate", .inactive(already: true)) { record throws(RemoteError) in
            try Self.checkBuildFlags(Self.buildFlags(ofCreate: flags))
            let definition = record.definition
            let buildFlags = Self.buildFlags(ofCreate: flags)
            if flags & 1 != 0 {
                try await StorageWork.run { () throws(StorageError) in try PoolBackends.build(definition, flags: buildFlags) }
            }
            let scan = try await StorageWork.run { () throws(StorageError) in try PoolBackends.start(definition) }
            try await writeLiveStatus(definition)
            registry.update(definition.name) { record in
                record.apply(scan)
                record.isActive = true
            }
            events.emit(.started, pool: record.handle)
        }
    }

    /// `virStoragePoolBuild`.
    func build(_ handle: RemoteStoragePool, flags: UInt32) async throws(RemoteError) {
        try await withPoolJob(handle, "storagePoolBuild", .inactive(already: true)) { record throws(RemoteError) in
            try Self.checkBuildFlags(flags, function: "virStorageBackendFileSystemBuild")
            let definition = record.definition
            try await StorageWork.run { () throws(StorageError) in try PoolBackends.build(definition, flags: flags) }
        }
    }

    /// `virStoragePoolDestroy`: stops the pool (a transient one goes away).
    func destroy(_ handle: RemoteStoragePool) async throws(RemoteError) {
        try await withPoolJob(handle, "storagePoolDestroy", .active) { record throws(RemoteError) in
            guard !record.hasBusyVolumes else {
                throw RemoteError(code: .operationInvalid, domain: .storage, detail: "pool '\(record.definition.name)' has asynchronous jobs running.")
            }
            let definition = record.definition
            try await StorageWork.run { () throws(StorageError) in try PoolBackends.stop(definition) }
            await stop(record)
        }
    }

    /// Records a running pool's definition in the run directory.
    private func writeLiveStatus(_ definition: PoolDefinition) async throws(RemoteError) {
        let liveStore = self.liveStore
        let text = PoolXMLFormatter.format(definition)
        try await StorageWork.run { () throws(StorageError) in
            do throws(StoreError) { try liveStore.write(name: definition.name, xml: text) } catch { throw StorageError(.operationFailed, error.message) }
        }
    }

    /// Marks a pool stopped (removing it when transient) and reports it.
    private func stop(_ record: PoolRecord) async {
        let name = record.definition.name
        let liveStore = self.liveStore
        _ = try? await StorageWork.run { () throws(StorageError) in try? liveStore.remove(name: name) }
        if record.isPersistent {
            registry.update(name) { record in
                record.isActive = false
                record.volumes = []
                record.sizes = PoolXMLFormatter.Sizes()
                record.livePermissions = nil
                record.applyPendingDefinition()
            }
        } else {
            registry.remove(named: name)
        }
        events.emit(.stopped, pool: record.handle)
    }

    /// `virStoragePoolDelete`: removes the pool's directory.
    func delete(_ handle: RemoteStoragePool, flags: UInt32) async throws(RemoteError) {
        try await withPoolJob(handle, "storagePoolDelete", .inactive(already: false)) { record throws(RemoteError) in
            try Self.checkFlags(flags, allowed: 0, function: "virStorageBackendFileSystemDelete")
            let definition = record.definition
            try await StorageWork.run { () throws(StorageError) in try PoolBackends.delete(definition) }
            events.emit(.deleted, pool: record.handle)
        }
    }

    /// `virStoragePoolUndefine`.
    func undefine(_ handle: RemoteStoragePool) async throws(RemoteError) {
        try await withPoolJob(handle, "storagePoolUndefine", .inactive(already: false)) { record throws(RemoteError) in
            let name = record.definition.name
            let store = self.store
            try await StorageWork.run { () throws(StorageError) in
                do throws(StoreError) { try store.remove(name: name) } catch { throw StorageError(.operationFailed, error.message) }
            }
            registry.remove(named: name)
            events.emit(.undefined, pool: record.handle)
        }
    }

    /// `virStoragePoolRefresh`. A pool whose directory vanished stops, with the reason.
    func refresh(_ handle: RemoteStoragePool, flags: UInt32) async throws(RemoteError) {
        try Self.checkFlags(flags, allowed: 0, function: "storagePoolRefresh")
        try await withPoolJob(handle, "storagePoolRefresh", .active) { record throws(RemoteError) in
            let name = record.definition.name
            guard !record.hasBusyVolumes else {
                throw RemoteError(code: .operationInvalid, domain: .storage, detail: "pool '\(name)' has asynchronous jobs running.")
            }
            let definition = record.definition
            do throws(RemoteError) {
                let scan = try await StorageWork.run { () throws(StorageError) in try PoolBackends.refresh(definition) }
                registry.update(name) { $0.apply(scan) }
                events.emit(.refreshed, pool: record.handle)
            } catch {
                logger.warning("stopping a pool whose refresh failed", metadata: ["pool": "\(name)", "error": "\(error.message ?? "")"])
                try? await StorageWork.run { () throws(StorageError) in try PoolBackends.stop(definition) }
                await stop(record)
                throw error
            }
        }
    }

    /// `virStoragePoolSetAutostart`.
    func setAutostart(_ handle: RemoteStoragePool, _ on: Bool) async throws(RemoteError) {
        try await withPoolJob(handle, "storagePoolSetAutostart", .any) { record throws(RemoteError) in
            guard record.isPersistent else {
                throw RemoteError(code: .internalError, domain: .storage, detail: "cannot set autostart for transient pool")
            }
            let name = record.definition.name
            let store = self.store
            try await StorageWork.run { () throws(StorageError) in
                do throws(StoreError) { try store.setAutostart(name: name, on) } catch { throw StorageError(.operationFailed, error.message) }
            }
            registry.update(name) { $0.autostart = on }
        }
    }

    // MARK: Volumes

    private func activePool(_ handle: RemoteStoragePool) throws(RemoteError) -> PoolRecord {
        let record = try registry.pool(for: handle)
        guard record.isActive else {
            throw RemoteError(code: .operationInvalid, domain: .storage, detail: "storage pool '\(record.definition.name)' is not active")
        }
        return record
    }

    private func parseVolume(_ xml: String, in record: PoolRecord) throws(RemoteError) -> VolumeDefinition {
        let definition: VolumeDefinition
        do throws(StorageError) {
            definition = try VolumeDefinition.parse(xml)
        } catch {
            throw RemoteError(error)
        }
        if let problem = StorageName.volumeProblem(definition.name) {
            throw RemoteError(code: .operationInvalid, domain: .storage, detail: problem)
        }
        if record.volume(named: definition.name) != nil || record.busyVolumes[definition.name] != nil {
            throw RemoteError(code: .storageVolumeExists, domain: .storage, detail: "'\(definition.name)'")
        }
        return definition
    }

    /// Reserves a new volume's name in its pool (inside the pool's job), so that two creates of
    /// one name cannot both proceed, and the pool is not stopped meanwhile.
    private func reserve(_ name: String, in pool: String) { registry.update(pool) { $0.busyVolumes[name, default: 0] += 1 } }

    /// Reserves a volume being made, and lists it meanwhile (as libvirt lists a volume being
    /// built): lookups and get-info show its growing allocation; delete refuses it.
    private func reserveNew(_ definition: VolumeDefinition, path: String, in pool: String) {
        let placeholder = VolumeDescription(
            name: definition.name, key: path, path: path, type: .file, format: definition.format ?? .raw, capacity: definition.capacity ?? 0,
            allocation: 0, physical: 0, permissions: definition.permissions)
        registry.update(pool) { record in
            record.busyVolumes[definition.name, default: 0] += 1
            record.store(placeholder)
        }
    }

    /// Ends the making of a volume: stores the result, or removes the placeholder.
    private func releaseNew(_ name: String, in pool: String, result: VolumeDescription?) {
        registry.update(pool) { record in
            record.busyVolumes[name] = nil
            if let result {
                record.store(result)
            } else {
                record.volumes.removeAll { $0.name == name }
            }
        }
    }

    private func release(_ name: String, in pool: String, storing volume: VolumeDescription? = nil) {
        registry.update(pool) { record in
            if let count = record.busyVolumes[name], count > 1 {
                record.busyVolumes[name] = count - 1
            } else {
                record.busyVolumes[name] = nil
            }
            if let volume { record.store(volume) }
        }
    }

    /// `virStorageVolCreateXML`.
    func createVolume(in handle: RemoteStoragePool, xml: String, flags: UInt32) async throws(RemoteError) -> RemoteStorageVolume {
        try Self.checkFlags(flags, allowed: VolumeOperations.preallocateMetadata, function: "storageVolCreateXML")
        let record = try activePool(handle)
        let poolName = record.definition.name
        let directory = record.definition.targetPath
        let definition = try await jobs.run(poolName, "storageVolCreateXML") { () throws(RemoteError) -> VolumeDefinition in
            let record = try activePool(handle)
            let definition = try parseVolume(xml, in: record)
            reserveNew(definition, path: directory + "/" + definition.name, in: poolName)
            return definition
        }
        let path = directory + "/" + definition.name
        do throws(RemoteError) {
            let volume = try await StorageWork.run { () throws(StorageError) in
                try VolumeOperations.create(definition, path: path, poolDirectory: directory, flags: flags)
            }
            releaseNew(definition.name, in: poolName, result: volume)
            await refreshSizes(poolName)
            return RemoteStorageVolume(pool: poolName, volume: volume)
        } catch {
            releaseNew(definition.name, in: poolName, result: nil)
            throw error
        }
    }

    /// `virStorageVolCreateXMLFrom`: a copy of another volume (from any active pool).
    func cloneVolume(in handle: RemoteStoragePool, xml: String, from sourceHandle: RemoteStorageVolume, flags: UInt32) async throws(RemoteError) -> RemoteStorageVolume {
        try Self.checkFlags(flags, allowed: VolumeOperations.preallocateMetadata, function: "storageVolCreateXMLFrom")
        let record = try activePool(handle)
        let (sourcePool, source) = try registry.volume(for: sourceHandle)
        let poolName = record.definition.name
        let directory = record.definition.targetPath
        let definition = try await jobs.run(poolName, "storageVolCreateXMLFrom") { () throws(RemoteError) -> VolumeDefinition in
            var definition = try parseVolume(xml, in: try activePool(handle))
            if definition.format == nil { definition.format = .raw }  // libvirt's default for a directory pool
            reserveNew(definition, path: directory + "/" + definition.name, in: poolName)
            return definition
        }
        reserve(source.name, in: sourcePool.definition.name)
        defer { release(source.name, in: sourcePool.definition.name) }
        let path = directory + "/" + definition.name
        do throws(RemoteError) {
            let volume = try await StorageWork.run { () throws(StorageError) in
                try VolumeOperations.clone(definition, from: source, path: path, poolDirectory: directory, flags: flags)
            }
            releaseNew(definition.name, in: poolName, result: volume)
            await refreshSizes(poolName)
            return RemoteStorageVolume(pool: poolName, volume: volume)
        } catch {
            releaseNew(definition.name, in: poolName, result: nil)
            throw error
        }
    }

    /// `virStorageVolDelete`.
    func deleteVolume(_ handle: RemoteStorageVolume, flags: UInt32) async throws(RemoteError) {
        let (record, _) = try registry.volume(for: handle)
        let poolName = record.definition.name
        try await jobs.run(poolName, "storageVolDelete") { () throws(RemoteError) in
            let (record, volume) = try registry.volume(for: handle)
            try Self.checkFlags(flags, allowed: 0, function: "virStorageBackendVolDeleteLocal")
            guard record.busyVolumes[volume.name] == nil else {
                throw RemoteError(code: .operationInvalid, domain: .storage, detail: "volume '\(volume.name)' is still in use.")
            }
            // A running guest's volume may be deleted, as libvirt allows (and libvirt-tck's
            // 121-block-info does): QEMU keeps the open file, the guest runs on, and the domain
            // cannot start again until the volume exists. Wiping and uploading are refused:
            // they would change the guest's data under it.
            try await StorageWork.run { () throws(StorageError) in try VolumeFiles.remove(volume) }
            registry.update(poolName) { $0.volumes.removeAll { $0.name == volume.name } }
        }
        await refreshSizes(poolName)
    }

    /// `virStorageVolWipePattern`.
    func wipeVolume(_ handle: RemoteStorageVolume, algorithm: UInt32, flags: UInt32) async throws(RemoteError) {
        try Self.checkFlags(flags, allowed: 0, function: "storageVolWipePattern")
        guard let algorithm = VolumeOperations.WipeAlgorithm(rawValue: algorithm) else {
            throw RemoteError(code: .invalidArgument, domain: .storage, detail: "wiping algorithm \(algorithm) not supported")
        }
        let volume = try await beginVolumeWork(handle, "storageVolWipePattern")
        defer { release(volume.name, in: handle.pool) }
        if let domain = domainUsingVolume(handle.pool, volume) {
            throw RemoteError(code: .operationInvalid, domain: .storage, detail: "storage volume '\(volume.name)' is in use by running domain '\(domain)'")
        }
        try await StorageWork.run { () throws(StorageError) in try VolumeOperations.wipe(volume, algorithm: algorithm) }
        await refreshVolume(handle)
    }

    /// `virStorageVolResize`.
    func resizeVolume(_ handle: RemoteStorageVolume, capacity: UInt64, flags: UInt32) async throws(RemoteError) {
        try Self.checkFlags(flags, allowed: 7, function: "storageVolResize")
        let resizeFlags = VolumeOperations.ResizeFlags(rawValue: flags)
        let volume = try await beginVolumeWork(handle, "storageVolResize")
        defer { release(volume.name, in: handle.pool) }
        var target = capacity
        if resizeFlags.contains(.delta) {
            if resizeFlags.contains(.shrink) {
                guard capacity <= volume.capacity else {
                    throw RemoteError(code: .invalidArgument, domain: .storage, detail: "can't shrink capacity below size zero")
                }
                target = volume.capacity - capacity
            } else {
                let (sum, overflow) = volume.capacity.addingReportingOverflow(capacity)
                guard !overflow else { throw RemoteError(code: .overflow, domain: .storage, detail: "capacity \(capacity) too large") }
                target = sum
            }
        }
        let available = registry.pool(named: handle.pool)?.sizes.available ?? 0
        let finalCapacity = target
        try await StorageWork.run { () throws(StorageError) in
            try VolumeOperations.resize(volume, to: finalCapacity, flags: resizeFlags, available: available)
        }
        await refreshVolume(handle)
        await refreshSizes(handle.pool)
    }

    /// `VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM` and `VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM`.
    static let sparseStream: UInt32 = 1

    /// `virStorageVolDownload`: the stream's source. The volume stays busy until the stream ends.
    func download(_ handle: RemoteStorageVolume, offset: UInt64, length: UInt64, flags: UInt32) async throws(RemoteError) -> VolumeDownloadSource {
        try Self.checkFlags(flags, allowed: Self.sparseStream, function: "storageVolDownload")
        let volume = try await beginVolumeWork(handle, "storageVolDownload")
        do throws(StorageError) {
            return try VolumeDownloadSource(path: volume.path, offset: offset, length: length, sparse: flags & Self.sparseStream != 0) {
                await self.endVolumeWork(handle)
            }
        } catch {
            await endVolumeWork(handle)
            throw RemoteError(error)
        }
    }

    /// `virStorageVolUpload`: the stream's sink. The volume stays busy until the stream ends,
    /// then the pool's view of it is refreshed.
    func upload(_ handle: RemoteStorageVolume, offset: UInt64, length: UInt64, flags: UInt32) async throws(RemoteError) -> VolumeUploadSink {
        try Self.checkFlags(flags, allowed: Self.sparseStream, function: "storageVolUpload")
        let volume = try await beginVolumeWork(handle, "storageVolUpload")
        if let domain = domainUsingVolume(handle.pool, volume) {
            await endVolumeWork(handle)
            throw RemoteError(code: .operationInvalid, domain: .storage, detail: "storage volume '\(volume.name)' is in use by running domain '\(domain)'")
        }
        do throws(StorageError) {
            return try VolumeUploadSink(path: volume.path, offset: offset, length: length, sparse: flags & Self.sparseStream != 0, logger: logger) {
                await self.endVolumeWork(handle)
            }
        } catch {
            await endVolumeWork(handle)
            throw RemoteError(error)
        }
    }

    /// Takes the volume for long work: checks it exists and is not busy, and marks it busy.
    /// The caller releases it.
    func beginVolumeWork(_ handle: RemoteStorageVolume, _ operation: String) async throws(RemoteError) -> VolumeDescription {
        let (record, _) = try registry.volume(for: handle)
        return try await jobs.run(record.definition.name, operation) { () throws(RemoteError) -> VolumeDescription in
            let (record, volume) = try registry.volume(for: handle)
            guard record.busyVolumes[volume.name] == nil else {
                throw RemoteError(code: .operationInvalid, domain: .storage, detail: "volume '\(volume.name)' is still in use.")
            }
            reserve(volume.name, in: record.definition.name)
            return volume
        }
    }

    /// Ends long work on a volume taken with ``beginVolumeWork(_:_:)``, describing it afresh.
    func endVolumeWork(_ handle: RemoteStorageVolume) async {
        release(handle.name, in: handle.pool)
        await refreshVolume(handle)
        await refreshSizes(handle.pool)
    }

    /// Describes one volume again (libvirt refreshes a volume before get-info and dumpxml).
    func refreshVolume(_ handle: RemoteStorageVolume) async {
        guard let record = registry.pool(named: handle.pool), record.isActive, let volume = record.volume(named: handle.name) else { return }
        let directory = record.definition.targetPath
        let described = try? await StorageWork.run { () throws(StorageError) in
            VolumeFiles.describe(name: volume.name, path: volume.path, poolDirectory: directory)
        }
        registry.update(handle.pool) { record in
            if let described = described ?? nil {
                record.store(described)
            }
        }
    }

    private func refreshSizes(_ pool: String) async {
        guard let record = registry.pool(named: pool), record.isActive else { return }
        let directory = record.definition.targetPath
        if let sizes = try? await StorageWork.run({ () throws(StorageError) in try DirectoryPoolBackend.sizes(of: directory) }) {
            registry.update(pool) { $0.sizes = sizes }
        }
    }

    // MARK: Checks

    static func checkFlags(_ flags: UInt32, allowed: UInt32, function: String) throws(RemoteError) {
        try DomainProcedures.checkFlags(flags, allowed: allowed, domain: .storage, function: function)
    }

    /// A build's flags: overwrite and no-overwrite exclude each other; repair and resize are
    /// not supported by directory pools.
    static func checkBuildFlags(_ flags: UInt32, function: String = "virStorageBackendFileSystemBuild") throws(RemoteError) {
        let build = DirectoryPoolBackend.BuildFlags(rawValue: flags)
        try checkFlags(flags, allowed: DirectoryPoolBackend.BuildFlags([.overwrite, .noOverwrite]).rawValue, function: function)
        if build.contains(.overwrite) && build.contains(.noOverwrite) {
            throw RemoteError(code: .invalidArgument, domain: .storage, detail:
                "Flags 'VIR_STORAGE_POOL_BUILD_OVERWRITE' and 'VIR_STORAGE_POOL_BUILD_NO_OVERWRITE' are mutually exclusive")
        }
    }

    /// The build flags a create's `WITH_BUILD_OVERWRITE` (2) and `_NO_OVERWRITE` (4) stand for.
    static func buildFlags(ofCreate flags: UInt32) -> UInt32 {
        (flags & 2 != 0 ? DirectoryPoolBackend.BuildFlags.overwrite.rawValue : 0) | (flags & 4 != 0 ? DirectoryPoolBackend.BuildFlags.noOverwrite.rawValue : 0)
    }
}

extension PoolRecord {
    mutating func apply(_ scan: DirectoryPoolBackend.Scan) {
        sizes = scan.sizes
        livePermissions = scan.permissions
        volumes = scan.volumes
    }
}

import CorralProtocol
import CorralStorage
import Synchronization

/// Every storage pool, by name, behind one short lock: lookups and listings read it from the
/// event loop without waiting; changes happen inside the pool's job (``StorageDriver``).
final class StorageRegistry: Sendable {
    private let pools = Mutex<[String: PoolRecord]>([:])

    /// Every pool, sorted by name.
    func all() -> [PoolRecord] {
        pools.withLock { Array($0.values) }.sorted { $0.definition.name < $1.definition.name }
    }

    func pool(named name: String) -> PoolRecord? { pools.withLock { $0[name] } }
    /// The active pool whose directory is `path` (`virStoragePoolLookupByTargetPath`).
    func activePool(targetPath path: String) -> PoolRecord? {
        let path = StoragePath.clean(path)
        return all().first { $0.isActive && $0.definition.targetPath == path }
    }

    func pool(uuid: String) -> PoolRecord? {
        pools.withLock { pools in pools.values.first { $0.definition.uuid == uuid } }
    }

    /// The pool a handle names (by UUID, as libvirt looks handles up), or libvirt's error.
    func pool(for handle: RemoteStoragePool) throws(RemoteError) -> PoolRecord {
        guard let record = pool(uuid: handle.uuid.description) else {
            throw RemoteError(code: .noStoragePool, domain: .storage, detail: "no storage pool with matching uuid '\(handle.uuid)' (\(handle.name))")
        }
        return record
    }

    /// The active pool a volume handle names and the volume, or libvirt's error.
    func volume(for handle: RemoteStorageVolume) throws(RemoteError) -> (PoolRecord, VolumeDescription) {
        guard let record = pool(named: handle.pool) else {
            throw RemoteError(code: .noStoragePool, domain: .storage, detail: "no storage pool with matching name '\(handle.pool)'")
        }
        guard record.isActive else {
            throw RemoteError(code: .operationInvalid, domain: .storage, detail: "storage pool '\(handle.pool)' is not active")
        }
        guard let volume = record.volume(named: handle.name) else {
            throw RemoteError(code: .noStorageVolume, domain: .storage, detail: "no storage vol with matching name '\(handle.name)'")
        }
        return (record, volume)
    }

    /// The volume whose key or path is `text`, in any active pool.
    func volume(matching text: String, byKey: Bool) -> (PoolRecord, VolumeDescription)? {
        let cleaned = StoragePath.clean(text)
        for record in all() where record.isActive {
            if let volume = record.volumes.first(where: { byKey ? $0.key == text : ($0.path == text || $0.path == cleaned) }) {
                return (record, volume)
            }
        }
        return nil
    }

    /// Inserts or replaces a pool.
    func store(_ record: PoolRecord) {
        pools.withLock { $0[record.definition.name] = record }
    }

    func remove(named name: String) {
        _ = pools.withLock { $0.removeValue(forKey: name) }
    }

    /// Changes a pool in place; returns the result, or `nil` when it no longer exists.
    @discardableResult
    func update<T>(_ name: String, _ change: (inout PoolRecord) -> T) -> T? {
        pools.withLock { pools in
            guard var record = pools[name] else { return nil }
            let result = change(&record)
            pools[name] = record
            return result
        }
    }
}

extension RemoteStorageVolume {
    /// The handle of `volume` in `pool`.
    init(pool: String, volume: VolumeDescription) {
        self.init(pool: pool, name: volume.name, key: volume.key)
    }
}

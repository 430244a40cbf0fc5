public import CorralProtocol

/// A storage pool handle: name and UUID.
public typealias StoragePoolHandle = RemoteStoragePool
/// A storage volume handle: pool, name and key.
public typealias StorageVolumeHandle = RemoteStorageVolume

/// A volume's kind and sizes, as `virStorageVolGetInfo` returns them.
public struct StorageVolumeInfo: Sendable, Hashable {
    /// `VIR_STORAGE_VOL_FILE` (0), `_BLOCK` (1), `_DIR` (2) …
    public var type: Int
    /// Guest-visible size, bytes.
    public var capacity: UInt64
    /// Bytes allocated on the host (with `physical`, the file's size).
    public var allocation: UInt64
}

extension CorralConnection {
    /// Every storage pool (`virConnectListAllStoragePools`), with whether each is active and
    /// autostarted.
    public func storagePools() async throws(CorralClientError) -> [(pool: StoragePoolHandle, active: Bool, autostart: Bool)] {
        let pools = try await call(Remote.ConnectListAllStoragePools.self, .init(needResults: 1, flags: 0)).pools
        var result: [(StoragePoolHandle, Bool, Bool)] = []
        for pool in pools {
            let active = try await call(Remote.StoragePoolIsActive.self, .init(pool: pool)).active != 0
            let autostart = try await call(Remote.StoragePoolGetAutostart.self, .init(pool: pool)).autostart != 0
            result.append((pool, active, autostart))
        }
        return result.sorted { $0.0.name < $1.0.name }
    }

    /// The pool called `name`.
    public func storagePool(named name: String) async throws(CorralClientError) -> StoragePoolHandle {
        try await call(Remote.StoragePoolLookupByName.self, .init(name: name)).pool
    }

    /// The volumes of a running pool.
    public func storageVolumes(in pool: StoragePoolHandle) async throws(CorralClientError) -> [StorageVolumeHandle] {
        try await call(Remote.StoragePoolListAllVolumes.self, .init(pool: pool, needResults: 1, flags: 0)).vols
    }

    /// The volume `name` of `pool`, or (with no pool) the volume whose path or key is `name`,
    /// as virsh finds `--vol` arguments.
    public func storageVolume(_ name: String, pool: String?) async throws(CorralClientError) -> StorageVolumeHandle {
        if let pool {
            let handle = try await storagePool(named: pool)
            return try await call(Remote.StorageVolLookupByName.self, .init(pool: handle, name: name)).vol
        }
        do throws(CorralClientError) {
            return try await call(Remote.StorageVolLookupByPath.self, .init(path: name)).vol
        } catch {
            return try await call(Remote.StorageVolLookupByKey.self, .init(key: name)).vol
        }
    }

    /// A volume's path.
    public func path(of volume: StorageVolumeHandle) async throws(CorralClientError) -> String {
        try await call(Remote.StorageVolGetPath.self, .init(vol: volume)).name
    }

    /// A volume's kind and sizes; `physical` reports the file's size as the allocation.
    public func info(of volume: StorageVolumeHandle, physical: Bool = false) async throws(CorralClientError) -> StorageVolumeInfo {
        let reply = try await call(Remote.StorageVolGetInfoFlags.self, .init(vol: volume, flags: physical ? 1 : 0))
        return StorageVolumeInfo(type: Int(reply.type), capacity: reply.capacity, allocation: reply.allocation)
    }

    /// A volume's XML.
    public func xml(of volume: StorageVolumeHandle) async throws(CorralClientError) -> String {
        try await call(Remote.StorageVolGetXmlDesc.self, .init(vol: volume, flags: 0)).xml
    }

    /// Opens a stream that writes into `volume` from `offset` (`length` 0: no limit).
    public func upload(to volume: StorageVolumeHandle, offset: UInt64 = 0, length: UInt64 = 0, sparse: Bool = false) async throws(CorralClientError) -> CorralStream {
        try await openStream(Remote.StorageVolUpload.self, .init(vol: volume, offset: offset, length: length, flags: sparse ? 1 : 0)).1
    }

    /// Opens a stream that reads `volume` from `offset` (`length` 0: to its end).
    public func download(from volume: StorageVolumeHandle, offset: UInt64 = 0, length: UInt64 = 0, sparse: Bool = false) async throws(CorralClientError) -> CorralStream {
        try await openStream(Remote.StorageVolDownload.self, .init(vol: volume, offset: offset, length: length, flags: sparse ? 1 : 0)).1
    }

    /// Creates a volume in `pool` as a copy of `source` (`virStorageVolCreateXMLFrom`).
    public func cloneVolume(_ source: StorageVolumeHandle, into pool: StoragePoolHandle, xml: String, flags: UInt32 = 0) async throws(CorralClientError) -> StorageVolumeHandle {
        try await call(Remote.StorageVolCreateXmlFrom.self, .init(pool: pool, xml: xml, clonevol: source, flags: flags)).vol
    }
}

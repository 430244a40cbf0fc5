import CorralProtocol
import CorralStorage

/// One storage pool, as libvirt's `virStoragePoolObj`: its definition, state, and the volumes its
/// last refresh found. A value held in ``StorageRegistry``.
struct PoolRecord: Sendable, DefinedObjectRecord {
    /// The definition in use (the running one while active).
    var definition: PoolDefinition
    /// A definition given while the pool ran (libvirt's `newDef`): it takes over at the next stop.
    var pendingDefinition: PoolDefinition?
    /// Whether the definition is stored (not transient).
    var isPersistent: Bool
    /// Whether the pool is started.
    var isActive = false
    /// Whether the pool starts with the daemon.
    var autostart = false
    /// The file system's sizes at the last refresh.
    var sizes = PoolXMLFormatter.Sizes()
    /// The target directory's permissions at the last refresh.
    var livePermissions: StoragePermissions?
    /// The volumes, sorted by name.
    var volumes: [VolumeDescription] = []
    /// Names of volumes being created, cloned, wiped or written by a stream: not to be deleted,
    /// and the pool not to be stopped, meanwhile (libvirt's `asyncjobs`).
    var busyVolumes: [String: Int] = [:]

    /// The RPC handle.
    var handle: RemoteStoragePool { RemoteStoragePool(name: definition.name, uuid: RemoteUUID(definition.uuid)!) }


    /// `virStoragePoolGetInfo`'s state.
    var state: PoolState { isActive ? .running : .inactive }

    func volume(named name: String) -> VolumeDescription? {
        volumes.first { $0.name == name }
    }

    /// Adds or replaces a volume, keeping the list sorted.
    mutating func store(_ volume: VolumeDescription) {
        volumes.removeAll { $0.name == volume.name }
        let index = volumes.firstIndex { $0.name > volume.name } ?? volumes.endIndex
        volumes.insert(volume, at: index)
    }

    var hasBusyVolumes: Bool { !busyVolumes.isEmpty }
}

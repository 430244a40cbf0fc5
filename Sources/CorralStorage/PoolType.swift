/// libvirt's storage pool types (`virStoragePoolType`), in libvirt's order: the order gives each
/// type its bit in `virConnectListAllStoragePools`'s flags.
public enum PoolType: String, CaseIterable, Sendable, Hashable {
    case dir, fs, netfs, logical, disk, iscsi, scsi, mpath, rbd, sheepdog, gluster, zfs, vstorage
    case iscsiDirect = "iscsi-direct"

    /// The listing flag that selects pools of this type (`VIR_CONNECT_LIST_STORAGE_POOLS_DIR` …).
    public var listFlag: UInt32 {
        switch self {
        case .dir: 1 << 6
        case .fs: 1 << 7
        case .netfs: 1 << 8
        case .logical: 1 << 9
        case .disk: 1 << 10
        case .iscsi: 1 << 11
        case .scsi: 1 << 12
        case .mpath: 1 << 13
        case .rbd: 1 << 14
        case .sheepdog: 1 << 15
        case .gluster: 1 << 16
        case .zfs: 1 << 17
        case .vstorage: 1 << 18
        case .iscsiDirect: 1 << 19
        }
    }

    /// libvirt's internal number for the type (its "missing backend for pool type N" message).
    public var libvirtNumber: Int {
        switch self {
        case .dir: 0
        case .fs: 1
        case .netfs: 2
        case .logical: 3
        case .disk: 4
        case .iscsi: 5
        case .iscsiDirect: 6
        case .scsi: 7
        case .mpath: 8
        case .rbd: 9
        case .sheepdog: 10
        case .gluster: 11
        case .zfs: 12
        case .vstorage: 13
        }
    }

    /// The types Corral has a backend for.
    public static let supported: [PoolType] = [.dir, .fs]

    /// Whether Corral has a backend for the type.
    public var isSupported: Bool { Self.supported.contains(self) }

    /// The source formats the type accepts, the first being the default (`nil`: no format).
    public var sourceFormats: [String]? {
        switch self {
        case .fs:
            ["auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2", "vfat", "hfs+", "xfs", "ocfs2", "vmfs"]
        case .netfs: ["auto", "nfs", "glusterfs", "cifs"]
        case .logical: ["unknown", "lvm2"]
        case .disk: ["unknown", "dos", "dvh", "gpt", "mac", "bsd", "pc98", "sun", "lvm2"]
        default: nil
        }
    }

    /// The source format used when the XML names none.
    public var defaultSourceFormat: String? {
        self == .logical ? "lvm2" : sourceFormats?.first
    }

    /// Whether the pool's storage is reached over the network with no local path (libvirt's
    /// `VIR_STORAGE_POOL_SOURCE_NETWORK`): no `<target><path>` is needed.
    public var isNetworkStorage: Bool { self == .rbd || self == .sheepdog || self == .gluster || self == .iscsiDirect }

    /// Whether the pool's volumes are files in a directory Corral owns (dir, fs, netfs).
    public var isDirectoryBased: Bool { self == .dir || self == .fs || self == .netfs }
}

/// A pool's state (`virStoragePoolState`).
public enum PoolState: UInt8, Sendable, Hashable {
    case inactive = 0, building, running, degraded, inaccessible
}

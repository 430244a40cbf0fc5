/// `VIR_DOMAIN_SNAPSHOT_CREATE_*`.
struct SnapshotCreateFlags: OptionSet, Sendable {
    let rawValue: UInt32
    static let redefine = SnapshotCreateFlags(rawValue: 1)
    static let current = SnapshotCreateFlags(rawValue: 2)
    static let noMetadata = SnapshotCreateFlags(rawValue: 4)
    static let halt = SnapshotCreateFlags(rawValue: 8)
    static let diskOnly = SnapshotCreateFlags(rawValue: 16)
    static let reuseExternal = SnapshotCreateFlags(rawValue: 32)
    static let quiesce = SnapshotCreateFlags(rawValue: 64)
    static let atomic = SnapshotCreateFlags(rawValue: 128)
    static let live = SnapshotCreateFlags(rawValue: 256)
    static let validate = SnapshotCreateFlags(rawValue: 512)
    /// Every flag libvirt 9.0 defines.
    static let all = SnapshotCreateFlags(rawValue: 0x3FF)
}

/// `VIR_DOMAIN_SNAPSHOT_REVERT_*`.
struct SnapshotRevertFlags: OptionSet, Sendable {
    let rawValue: UInt32
    static let running = SnapshotRevertFlags(rawValue: 1)
    static let paused = SnapshotRevertFlags(rawValue: 2)
    static let force = SnapshotRevertFlags(rawValue: 4)
    static let resetNVRAM = SnapshotRevertFlags(rawValue: 8)
    static let all = SnapshotRevertFlags(rawValue: 0xF)
}

/// `VIR_DOMAIN_SNAPSHOT_DELETE_*`.
struct SnapshotDeleteFlags: OptionSet, Sendable {
    let rawValue: UInt32
    static let children = SnapshotDeleteFlags(rawValue: 1)
    static let metadataOnly = SnapshotDeleteFlags(rawValue: 2)
    static let childrenOnly = SnapshotDeleteFlags(rawValue: 4)
    static let all = SnapshotDeleteFlags(rawValue: 0x7)
}

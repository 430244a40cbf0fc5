/// The formats of volumes in directory pools (`virStorageFileFormat`), with libvirt's names.
public enum VolumeFormat: String, CaseIterable, Sendable, Hashable {
    case none, raw, dir, bochs, cloop, dmg, iso, vpc, vdi, fat, vhd, ploop, cow, qcow, qcow2, qed, vmdk

    /// The formats `qemu-img create` makes (the others but raw and dir cannot be created).
    public var isCreatableByQemuImg: Bool {
        switch self {
        case .qcow2, .qcow, .qed, .vmdk, .vdi, .vpc: true
        default: false
        }
    }

    /// The format's name for `qemu-img -f`/`-F`.
    public var qemuImgName: String { self == .none ? "raw" : rawValue }

    /// Whether an image of this format can point at a backing file.
    public var supportsBackingStore: Bool { self == .qcow2 || self == .qcow || self == .qed || self == .vmdk }
}

/// The kinds of volume (`virStorageVolType`), with their numbers in `virStorageVolGetInfo`.
public enum VolumeType: String, CaseIterable, Sendable, Hashable {
    case file, block, dir, network, netdir, ploop

    /// `VIR_STORAGE_VOL_FILE` …
    public var number: Int32 {
        switch self {
        case .file: 0
        case .block: 1
        case .dir: 2
        case .network: 3
        case .netdir: 4
        case .ploop: 5
        }
    }
}

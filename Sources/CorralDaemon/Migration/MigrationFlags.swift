/// `virDomainMigrateFlags`.
struct MigrationFlags: OptionSet, Sendable, Hashable {
    let rawValue: UInt64

    static let live = MigrationFlags(rawValue: 1 << 0)
    static let peerToPeer = MigrationFlags(rawValue: 1 << 1)
    static let tunnelled = MigrationFlags(rawValue: 1 << 2)
    static let persistDestination = MigrationFlags(rawValue: 1 << 3)
    static let undefineSource = MigrationFlags(rawValue: 1 << 4)
    static let paused = MigrationFlags(rawValue: 1 << 5)
    static let nonSharedDisk = MigrationFlags(rawValue: 1 << 6)
    static let nonSharedIncremental = MigrationFlags(rawValue: 1 << 7)
    static let changeProtection = MigrationFlags(rawValue: 1 << 8)
    static let unsafe = MigrationFlags(rawValue: 1 << 9)
    static let offline = MigrationFlags(rawValue: 1 << 10)
    static let compressed = MigrationFlags(rawValue: 1 << 11)
    static let abortOnError = MigrationFlags(rawValue: 1 << 12)
    static let autoConverge = MigrationFlags(rawValue: 1 << 13)
    static let rdmaPinAll = MigrationFlags(rawValue: 1 << 14)
    static let postcopy = MigrationFlags(rawValue: 1 << 15)
    static let tls = MigrationFlags(rawValue: 1 << 16)
    static let parallel = MigrationFlags(rawValue: 1 << 17)
    static let nonSharedSynchronousWrites = MigrationFlags(rawValue: 1 << 18)
    static let postcopyResume = MigrationFlags(rawValue: 1 << 19)
    static let zeroCopy = MigrationFlags(rawValue: 1 << 20)

    /// Every flag libvirt 9.0 knows.
    static let known = MigrationFlags(rawValue: (1 << 21) - 1)

    /// The flags Corral carries out; the others are refused by name, never ignored.
    static let supported: MigrationFlags = [
        .live, .peerToPeer, .tunnelled, .persistDestination, .undefineSource, .paused, .unsafe, .compressed, .abortOnError, .autoConverge, .parallel,
        .changeProtection, .postcopy, .nonSharedDisk, .nonSharedIncremental, .tls,
    ]

    /// The migration copies the guest's disks (`--copy-storage-all` or `--copy-storage-inc`).
    var copiesStorage: Bool { !isDisjoint(with: [.nonSharedDisk, .nonSharedIncremental]) }

    /// libvirt's names of the flags, for refusals.
    static let names: [(MigrationFlags, String)] = [
        (.offline, "VIR_MIGRATE_OFFLINE"), (.rdmaPinAll, "VIR_MIGRATE_RDMA_PIN_ALL"),
        (.nonSharedSynchronousWrites, "VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES"),
        (.postcopyResume, "VIR_MIGRATE_POSTCOPY_RESUME"), (.zeroCopy, "VIR_MIGRATE_ZEROCOPY"),
    ]
}

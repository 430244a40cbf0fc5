public import XMLTree

/// A domain snapshot's description, libvirt's `<domainsnapshot>` (formatsnapshot): what was
/// captured and where, when, from which parent, and the domain's definition at that moment.
public struct DomainSnapshot: Hashable, Sendable {
    /// `<state>`: the domain's state when the snapshot was taken (`virDomainSnapshotState`);
    /// `disk-snapshot` for a disk-only snapshot of a running guest.
    public enum State: String, Hashable, Sendable, CaseIterable {
        case nostate, running, blocked, paused, shutdown, shutoff, crashed, pmsuspended
        case diskSnapshot = "disk-snapshot"

        /// Whether a snapshot in this state holds no memory (an offline or disk-only one).
        public var isOffline: Bool { self == .shutoff || self == .diskSnapshot }
    }

    /// Where a disk's or the memory's state goes (`virDomainSnapshotLocation`).
    public enum Location: String, Hashable, Sendable, CaseIterable {
        case no, `internal`, external, manual
    }

    /// `<disks><disk>`: how one of the domain's disks takes part.
    public struct Disk: Hashable, Sendable {
        /// `<disk type>` of an external snapshot's new image.
        public enum SourceType: String, Hashable, Sendable, CaseIterable {
            case file, block
        }

        /// The disk's target (`vda`).
        public var name: String
        /// `nil`: decided when the snapshot is taken.
        public var location: Location?
        public var sourceType: SourceType
        /// An external snapshot's new image.
        public var path: String?
        /// `<driver type>` of that image.
        public var format: String?

        /// A disk entry.
        public init(name: String, location: Location?, sourceType: SourceType = .file, path: String? = nil, format: String? = nil) {
            self.name = name
            self.location = location
            self.sourceType = sourceType
            self.path = path
            self.format = format
        }
    }

    /// How a document is read.
    public enum ParseMode: Hashable, Sendable {
        /// A request to take a snapshot: the name may be missing (it becomes the creation
        /// time); state, parent and time are the daemon's to set. `offline`: no memory can be
        /// captured (the domain is shut off, or the snapshot is disk-only).
        case create(offline: Bool)
        /// `--redefine`, or the daemon's own stored metadata: everything is given.
        case redefine
    }

    public var name: String
    public var description: String?
    public var state: State?
    /// The parent's name; `nil` for a root.
    public var parent: String?
    /// Seconds since the epoch.
    public var creationTime: Int64?
    /// `nil`: decided when the snapshot is taken.
    public var memory: Location?
    /// An external memory snapshot's file.
    public var memoryFile: String?
    public var disks: [Disk]
    /// `<domain>`: the definition the domain had (its running form for a running domain).
    public var domain: XMLElement?
    /// `<inactiveDomain>`: a running domain's persistent definition.
    public var inactiveDomain: XMLElement?
    /// `<cookie>` of a running domain's snapshot, kept as written: libvirt's save cookie, with
    /// the CPU as QEMU made it and `<slirpHelper/>`.
    public var cookie: XMLElement?

    /// A snapshot description.
    public init(
        name: String, description: String? = nil, state: State? = nil, parent: String? = nil, creationTime: Int64? = nil,
        memory: Location? = nil, memoryFile: String? = nil, disks: [Disk] = [], domain: XMLElement? = nil, inactiveDomain: XMLElement? = nil
    ) {
        self.name = name
        self.description = description
        self.state = state
        self.parent = parent
        self.creationTime = creationTime
        self.memory = memory
        self.memoryFile = memoryFile
        self.disks = disks
        self.domain = domain
        self.inactiveDomain = inactiveDomain
    }

    /// Whether any of the state lives outside the domain's images (libvirt's
    /// `virDomainSnapshotIsExternal`): the `--external` list filter.
    public var isExternal: Bool {
        memory == .external || disks.contains { $0.location == .external }
    }

    /// The disks whose images hold this snapshot internally.
    public var internalDisks: [String] { disks.filter { $0.location == .internal }.map(\.name) }
}

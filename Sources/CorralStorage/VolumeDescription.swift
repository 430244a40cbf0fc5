/// What a volume is on disk, as a refresh found it: what vol-dumpxml and vol-info show.
public struct VolumeDescription: Sendable, Hashable {
    /// A file's times, as `seconds.nanoseconds`.
    public struct Timestamps: Sendable, Hashable {
        /// Access, modification and change times: seconds and nanoseconds.
        public var access: (Int, Int)
        public var modification: (Int, Int)
        public var change: (Int, Int)

        /// Creates timestamps.
        public init(access: (Int, Int), modification: (Int, Int), change: (Int, Int)) {
            self.access = access
            self.modification = modification
            self.change = change
        }

        public static func == (a: Timestamps, b: Timestamps) -> Bool {
            a.access == b.access && a.modification == b.modification && a.change == b.change
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(access.0)
            hasher.combine(modification.0)
            hasher.combine(change.0)
        }
    }

    /// A backing file of an image.
    public struct Backing: Sendable, Hashable {
        /// The backing file's path, as the image names it.
        public var path: String
        /// Its format, when the image or a probe says.
        public var format: VolumeFormat?
        /// Its permissions and times, when it exists.
        public var permissions: StoragePermissions?
        public var timestamps: Timestamps?

        /// Creates a backing description.
        public init(path: String, format: VolumeFormat?, permissions: StoragePermissions? = nil, timestamps: Timestamps? = nil) {
            self.path = path
            self.format = format
            self.permissions = permissions
            self.timestamps = timestamps
        }
    }

    /// The name in the pool.
    public var name: String
    /// The key: the path for directory pools, the LV's UUID for logical pools.
    public var key: String
    /// The path.
    public var path: String
    /// The kind of volume.
    public var type: VolumeType
    /// The format (`nil` for logical volumes, which have none).
    public var format: VolumeFormat?
    /// The guest-visible size, bytes.
    public var capacity: UInt64
    /// Bytes allocated on the host.
    public var allocation: UInt64
    /// The file's size on the host, bytes (`nil` for directories).
    public var physical: UInt64?
    /// Mode, owner and group.
    public var permissions: StoragePermissions
    /// The file's times.
    public var timestamps: Timestamps?
    /// The image's backing file.
    public var backing: Backing?
    /// qcow2's cluster size, bytes.
    public var clusterSize: UInt64?

    /// Creates a description.
    public init(
        name: String, key: String, path: String, type: VolumeType, format: VolumeFormat?, capacity: UInt64, allocation: UInt64,
        physical: UInt64?, permissions: StoragePermissions, timestamps: Timestamps? = nil, backing: Backing? = nil
    ) {
        self.name = name
        self.key = key
        self.path = path
        self.type = type
        self.format = format
        self.capacity = capacity
        self.allocation = allocation
        self.physical = physical
        self.permissions = permissions
        self.timestamps = timestamps
        self.backing = backing
    }
}

/// Writes volume XML as libvirt's `virStorageVolDefFormat` does.
public enum VolumeXMLFormatter {
    /// The volume's XML.
    public static func format(_ volume: VolumeDescription) -> String {
        var out = "<volume type='\(volume.type.rawValue)'>\n"
        out += "  <name>" + XMLText.escape(volume.name) + "</name>\n"
        out += "  <key>" + XMLText.escape(volume.key) + "</key>\n"
        out += "  <capacity unit='bytes'>\(volume.capacity)</capacity>\n"
        out += "  <allocation unit='bytes'>\(volume.allocation)</allocation>\n"
        if let physical = volume.physical {
            out += "  <physical unit='bytes'>\(physical)</physical>\n"
        }
        out += "  <target>\n"
        out += "    <path>" + XMLText.escape(volume.path) + "</path>\n"
        if let format = volume.format {
            out += "    <format type='\(format.rawValue)'/>\n"
        }
        out += volume.permissions.format(indent: "    ")
        if let timestamps = volume.timestamps { out += Self.format(timestamps, indent: "    ") }
        if let clusterSize = volume.clusterSize { out += "    <clusterSize unit='B'>\(clusterSize)</clusterSize>\n" }
        out += "  </target>\n"
        if let backing = volume.backing {
            out += "  <backingStore>\n"
            out += "    <path>" + XMLText.escape(backing.path) + "</path>\n"
            if let format = backing.format { out += "    <format type='\(format.rawValue)'/>\n" }
            if let permissions = backing.permissions { out += permissions.format(indent: "    ") }
            if let timestamps = backing.timestamps { out += Self.format(timestamps, indent: "    ") }
            out += "  </backingStore>\n"
        }
        out += "</volume>\n"
        return out
    }

    private static func format(_ timestamps: VolumeDescription.Timestamps, indent: String) -> String {
        func time(_ value: (Int, Int)) -> String {
            guard value.1 != 0 else { return "\(value.0)" }
            let nanoseconds = String(value.1)
            return "\(value.0)." + String(repeating: "0", count: max(0, 9 - nanoseconds.count)) + nanoseconds
        }
        var out = indent + "<timestamps>\n"
        out += indent + "  <atime>" + time(timestamps.access) + "</atime>\n"
        out += indent + "  <mtime>" + time(timestamps.modification) + "</mtime>\n"
        out += indent + "  <ctime>" + time(timestamps.change) + "</ctime>\n"
        out += indent + "  <btime>0</btime>\n"
        return out + indent + "</timestamps>\n"
    }
}

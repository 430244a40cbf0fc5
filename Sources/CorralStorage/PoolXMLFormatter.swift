/// Writes pool XML as libvirt's `virStoragePoolDefFormat` does.
public enum PoolXMLFormatter {
    /// The sizes shown in `<capacity>`, `<allocation>` and `<available>` (bytes).
    public struct Sizes: Sendable, Hashable {
        /// Total bytes.
        public var capacity: UInt64
        /// Bytes used.
        public var allocation: UInt64
        /// Bytes free for new volumes.
        public var available: UInt64

        /// Creates sizes.
        public init(capacity: UInt64 = 0, allocation: UInt64 = 0, available: UInt64 = 0) {
            self.capacity = capacity
            self.allocation = allocation
            self.available = available
        }
    }

    /// The pool's XML with `sizes`, and `permissions` in place of the definition's (a running
    /// pool shows its directory's real permissions).
    public static func format(_ pool: PoolDefinition, sizes: Sizes = Sizes(), permissions: StoragePermissions? = nil) -> String {
        var out = "<pool type='\(pool.type.rawValue)'>\n"
        out += "  <name>" + XMLText.escape(pool.name) + "</name>\n"
        out += "  <uuid>\(pool.uuid)</uuid>\n"
        out += "  <capacity unit='bytes'>\(sizes.capacity)</capacity>\n"
        out += "  <allocation unit='bytes'>\(sizes.allocation)</allocation>\n"
        out += "  <available unit='bytes'>\(sizes.available)</available>\n"
        out += "  <source>\n"
        for host in pool.sourceHosts {
            out += "    <host name='" + XMLText.attribute(host.name) + "'" + (host.port.map { " port='\($0)'" } ?? "") + "/>\n"
        }
        for device in pool.sourceDevices {
            out += "    <device path='" + XMLText.attribute(device) + "'/>\n"
        }
        if let directory = pool.sourceDirectory {
            out += "    <dir path='" + XMLText.attribute(directory) + "'/>\n"
        }
        if let name = pool.sourceName {
            out += "    <name>" + XMLText.escape(name) + "</name>\n"
        }
        if let format = pool.sourceFormat {
            out += "    <format type='" + XMLText.attribute(format) + "'/>\n"
        }
        out += "  </source>\n"
        out += "  <target>\n"
        out += "    <path>" + XMLText.escape(pool.targetPath) + "</path>\n"
        out += (permissions ?? pool.targetPermissions).format(indent: "    ")
        out += "  </target>\n"
        out += "</pool>\n"
        return out
    }
}

public import XMLTree

extension DomainDefinition.Disk {
    /// `<iotune>`: the disk's I/O limits, by libvirt's names, each QEMU's throttling setting.
    public struct IOTune: Hashable, Sendable {
        /// libvirt's limit names in its order, with QEMU's name of each (`block_set_io_throttle`).
        public static let limits: [(name: String, qemu: String)] = [
            ("total_bytes_sec", "bps"), ("read_bytes_sec", "bps_rd"), ("write_bytes_sec", "bps_wr"),
            ("total_iops_sec", "iops"), ("read_iops_sec", "iops_rd"), ("write_iops_sec", "iops_wr"),
            ("total_bytes_sec_max", "bps_max"), ("read_bytes_sec_max", "bps_rd_max"), ("write_bytes_sec_max", "bps_wr_max"),
            ("total_iops_sec_max", "iops_max"), ("read_iops_sec_max", "iops_rd_max"), ("write_iops_sec_max", "iops_wr_max"),
            ("size_iops_sec", "iops_size"),
            ("total_bytes_sec_max_length", "bps_max_length"), ("read_bytes_sec_max_length", "bps_rd_max_length"),
            ("write_bytes_sec_max_length", "bps_wr_max_length"), ("total_iops_sec_max_length", "iops_max_length"),
            ("read_iops_sec_max_length", "iops_rd_max_length"), ("write_iops_sec_max_length", "iops_wr_max_length"),
        ]
        /// libvirt's `QEMU_BLOCK_IOTUNE_MAX`: no limit may exceed 10^15.
        public static let maximumValue: UInt64 = 1_000_000_000_000_000

        /// Each limit set (non-zero), by libvirt's name.
        public var values: [String: UInt64] = [:]
        /// `<group_name>`: disks of one group share their limits.
        public var groupName: String?

        public init() {}

        static let schema = ElementSchema("iotune", children: limits.map { .text($0.name) } + [.text("group_name")])

        init(_ element: XMLElement) throws(DomainXMLError) {
            for (name, _) in Self.limits {
                guard let child = element.element(named: name) else { continue }
                guard let value = UInt64(child.text.trimmingWhitespace()) else {
                    throw DomainXMLError(.invalid, line: child.line, "disk iotune field '\(name)' must be an integer")
                }
                guard value <= Self.maximumValue else {
                    throw DomainXMLError(.unsupported, line: child.line, "block I/O throttle limit must be no more than \(Self.maximumValue) using QEMU")
                }
                if value > 0 { values[name] = value }
            }
            groupName = element.element(named: "group_name")?.text
        }

        /// Whether nothing is limited.
        public var isEmpty: Bool { values.isEmpty }

        /// The element, in libvirt's order (zero limits left out, as libvirt writes it).
        public var element: XMLElement {
            var children: [XMLNode] = []
            for (name, _) in Self.limits {
                if let value = values[name] { children.append(.element(XMLElement(name: name, children: [.text(String(value))]))) }
                if name == "size_iops_sec", let groupName { children.append(.element(XMLElement(name: "group_name", children: [.text(groupName)]))) }
            }
            return XMLElement(name: "iotune", children: children)
        }
    }
}

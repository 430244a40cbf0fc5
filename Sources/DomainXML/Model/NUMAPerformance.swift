import XMLTree

extension DomainDefinition {
    /// `<cell><cache>`: a memory-side cache of a guest NUMA node, which the guest learns of
    /// from ACPI's HMAT (QEMU's `hmat-cache`).
    public struct NUMACache: Hashable, Sendable {
        /// `associativity`.
        public enum Associativity: String, ModelledValue {
            case none, direct, full
        }

        /// `policy`: how writes reach memory.
        public enum Policy: String, ModelledValue {
            case none, writeback, writethrough
        }

        /// `level`: 1 to 3.
        public var level: Int
        public var associativity: Associativity
        public var policy: Policy
        /// `<size value>`, KiB (libvirt reads no unit here: its `unit` is not read).
        public var sizeKiB: UInt64
        /// `<line value>`, bytes (likewise).
        public var lineBytes: UInt64

        static let schema = ElementSchema("cache", attributes: ["level", "associativity", "policy"], children: [
            ElementSchema("size", attributes: ["value", "unit"]), ElementSchema("line", attributes: ["value", "unit"]),
        ])

        /// Reads a normalised `<cache>` (``DomainNormalizer/normalizeNUMACaches(_:cell:)`` checked it).
        init(_ element: XMLElement) {
            level = element[attribute: "level"].flatMap { Int($0) } ?? 1
            associativity = element[attribute: "associativity"].flatMap(Associativity.init(rawValue:)) ?? .none
            policy = element[attribute: "policy"].flatMap(Policy.init(rawValue:)) ?? .none
            sizeKiB = element.element(named: "size")?[attribute: "value"].flatMap { UInt64($0) } ?? 0
            lineBytes = element.element(named: "line")?[attribute: "value"].flatMap { UInt64($0) } ?? 0
        }
    }

    /// `<interconnects><latency|bandwidth>`: how fast a NUMA node with vCPUs (the initiator)
    /// reaches another's memory or memory-side cache (ACPI HMAT, QEMU's `hmat-lb`).
    public struct NUMAInterconnect: Hashable, Sendable {
        public enum Kind: String, ModelledValue {
            case latency, bandwidth
        }

        /// `type`: which accesses the figure is for.
        public enum AccessType: String, ModelledValue {
            case access, read, write
        }

        public var kind: Kind
        public var initiator: Int
        public var target: Int
        /// `cache`: the target's cache level the figure is for; 0: its memory.
        public var cache: Int
        public var accessType: AccessType
        /// Nanoseconds for a latency, KiB per second for a bandwidth.
        public var value: UInt64

        static let schema = ElementSchema("interconnects", children: [
            ElementSchema("latency", attributes: ["initiator", "target", "cache", "type", "value"]),
            ElementSchema("bandwidth", attributes: ["initiator", "target", "cache", "type", "value", "unit"]),
        ])

        /// Reads a normalised `<latency>` or `<bandwidth>`.
        init?(_ element: XMLElement) {
            guard let kind = Kind(rawValue: element.name) else { return nil }
            self.kind = kind
            initiator = element[attribute: "initiator"].flatMap { Int($0) } ?? 0
            target = element[attribute: "target"].flatMap { Int($0) } ?? 0
            cache = element[attribute: "cache"].flatMap { Int($0) } ?? 0
            accessType = element[attribute: "type"].flatMap(AccessType.init(rawValue:)) ?? .access
            value = element[attribute: "value"].flatMap { UInt64($0) } ?? 0
        }
    }
}

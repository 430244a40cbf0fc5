public import XMLTree

extension DomainDefinition {
    /// `<memtune>`: memory limits of the guest's process, in KiB (`nil`: unlimited).
    public struct MemoryTune: Hashable, Sendable, ModelledElement {
        public var hardLimitKiB: UInt64?
        public var softLimitKiB: UInt64?
        public var swapHardLimitKiB: UInt64?

        /// libvirt's element names, in its order.
        public static let names = ["hard_limit", "soft_limit", "swap_hard_limit"]

        static let schema = ElementSchema("memtune", children: names.map { .text($0, attributes: ["unit"]) })

        public init() {}

        init(_ element: XMLElement) throws(DomainXMLError) {
            func limit(_ name: String) throws(DomainXMLError) -> UInt64? {
                try element.element(named: name).map { child throws(DomainXMLError) in try DomainNormalizer.kibibytes(child) }
            }
            hardLimitKiB = try limit("hard_limit")
            softLimitKiB = try limit("soft_limit")
            swapHardLimitKiB = try limit("swap_hard_limit")
        }

        public var isEmpty: Bool { hardLimitKiB == nil && softLimitKiB == nil && swapHardLimitKiB == nil }
    }

    /// `<blkiotune><weight>`: the guest's share of block I/O (100–1000).
    public struct BlockIOTune: Hashable, Sendable, ModelledElement {
        public var weight: UInt32?

        static let schema = ElementSchema("blkiotune", children: [.text("weight")])

        public init() {}

        init(_ element: XMLElement) throws(DomainXMLError) {
            if let child = element.element(named: "weight") {
                guard let value = UInt32(child.text.trimmingWhitespace()), value == 0 || (100...1000).contains(value) else {
                    throw DomainXMLError(.invalid, line: child.line, "out of blkio weight range.")
                }
                weight = value == 0 ? nil : value
            }
        }
    }

    /// `<numatune><memory mode nodeset>`: which host NUMA nodes the guest's memory comes from.
    public struct NUMATune: Hashable, Sendable, ModelledElement {
        /// `virDomainNumatuneMemMode`, with libvirt's numbers.
        public enum Mode: String, ModelledValue {
            case strict, preferred, interleave, restrictive

            public var number: Int32 {
                switch self {
                case .strict: 0
                case .preferred: 1
                case .interleave: 2
                case .restrictive: 3
                }
            }

            public init?(number: Int32) {
                guard let mode = Mode.allCases.first(where: { $0.number == number }) else { return nil }
                self = mode
            }
        }

        public var mode: Mode = .strict
        public var nodeset: CPUSet?

        static let schema = ElementSchema("numatune", children: [ElementSchema("memory", attributes: ["mode", "nodeset", "placement"])])

        public init() {}

        init(_ element: XMLElement) throws(DomainXMLError) {
            guard let memory = element.element(named: "memory") else { return }
            mode = try Mode.attribute("mode", of: memory, default: .strict)
            if let text = memory[attribute: "nodeset"] {
                guard let set = CPUSet(parsing: text), !set.cpus.isEmpty else { throw DomainXMLError(.invalid, line: memory.line, "Failed to parse bitmap '\(text)'") }
                nodeset = set
            }
            if memory[attribute: "placement"] == "auto" {
                throw DomainXMLError(.unsupported, line: memory.line, "numatune placement 'auto' needs numad, which Corral does not use")
            }
        }
    }
}

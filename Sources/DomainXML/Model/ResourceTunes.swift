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
        /// `<memnode cellid mode nodeset>`: the host nodes one guest NUMA cell's memory comes
        /// from, by cell id.
        public var cellNodes: [Int: CellNodes] = [:]

        /// One `<memnode>`.
        public struct CellNodes: Hashable, Sendable {
            public var mode: Mode
            public var nodeset: CPUSet
        }

        /// The host nodes and policy of guest NUMA cell `cell`'s memory (nil: the guest's RAM
        /// outside cells): its `<memnode>`, else `<memory>`'s nodeset (libvirt's
        /// `virDomainNumatuneMaybeGetNodeset`); nil when none is given.
        public func hostNodes(cell: Int?) -> (mode: Mode, nodeset: CPUSet)? {
            if let cell, let nodes = cellNodes[cell] { return (nodes.mode, nodes.nodeset) }
            return nodeset.map { (mode, $0) }
        }

        static let schema = ElementSchema("numatune", children: [
            ElementSchema("memory", attributes: ["mode", "nodeset", "placement"]), ElementSchema("memnode", attributes: ["cellid", "mode", "nodeset"]),
        ])

        public init() {}

        init(_ element: XMLElement) throws(DomainXMLError) {
            // libvirt's reading of each <memnode> (virDomainNumatuneNodeParseXML); that its cell
            // exists is checked with the cells (DefinitionChecks).
            let restrictive = try Mode.attribute("mode", of: element.element(named: "memory"), default: .strict) == .restrictive
            for memnode in element.elements(named: "memnode") {
                guard let text = memnode[attribute: "cellid"] else {
                    throw DomainXMLError(.invalid, line: memnode.line, "Missing required attribute 'cellid' in element 'memnode'")
                }
                guard let cell = AttributeValues.libvirtUInt32(text).map(Int.init) else {
                    throw DomainXMLError(.invalid, line: memnode.line, "Invalid value for attribute 'cellid' in element 'memnode': '\(text)'. Expected non-negative integer value")
                }
                guard cellNodes[cell] == nil else { throw DomainXMLError(.invalid, line: memnode.line, "Multiple memnode elements with cellid \(cell)") }
                let mode = try Mode.attribute("mode", of: memnode, default: .strict)
                if restrictive && mode != .restrictive {
                    throw DomainXMLError(.invalid, line: memnode.line, "'restrictive' mode is required in memnode element when mode is 'restrictive' in memory element")
                }
                guard let nodesetText = memnode[attribute: "nodeset"] else {
                    throw DomainXMLError(.invalid, line: memnode.line, "Missing required nodeset attribute in memnode element")
                }
                guard let set = CPUSet(parsing: nodesetText), !set.cpus.isEmpty else {
                    throw DomainXMLError(.unsupported, line: memnode.line, "Invalid value of 'nodeset': \(nodesetText)")
                }
                cellNodes[cell] = CellNodes(mode: mode, nodeset: set)
            }
            guard let memory = element.element(named: "memory") else { return }
            mode = try Mode.attribute("mode", of: memory, default: .strict)
            if let text = memory[attribute: "nodeset"] {
                guard let set = CPUSet(parsing: text), !set.cpus.isEmpty else { throw DomainXMLError(.invalid, line: memory.line, "Failed to parse bitmap '\(text)'") }
                nodeset = set
            }
            if memory[attribute: "placement"] == "auto" {
                if !cellNodes.isEmpty { throw DomainXMLError(.unsupported, line: memory.line, "Per-node binding is not compatible with automatic NUMA placement.") }
                throw DomainXMLError(.unsupported, line: memory.line, "numatune placement 'auto' needs numad, which Corral does not use")
            }
        }
    }
}

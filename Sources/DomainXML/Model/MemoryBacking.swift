public import XMLTree

extension DomainDefinition {
    /// `<memoryBacking>`: what backs the guest's RAM (huge pages, a memfd or a file, shared or
    /// private), whether it is allocated at start, locked, or kept from page merging.
    public struct MemoryBacking: Hashable, Sendable, ModelledElement {
        /// `<source type>`.
        public enum Source: String, ModelledValue {
            case file, anonymous, memfd
        }

        /// `<access mode>`.
        public enum Access: String, ModelledValue {
            case shared, `private`
        }

        /// `<allocation mode>`.
        public enum Allocation: String, ModelledValue {
            case immediate, ondemand
        }

        /// `<hugepages><page size nodeset>`: a page size in KiB, for the NUMA nodes in `nodeset`
        /// (every node when nil). `<hugepages/>` alone is one page of the host's default size (0).
        public struct HugePage: Hashable, Sendable {
            public var sizeKiB: UInt64
            public var nodeset: CPUSet?
        }

        /// Empty without `<hugepages>`.
        public var hugePages: [HugePage] = []
        /// `<nosharepages/>`: the host does not merge the guest's identical pages (KSM).
        public var noSharePages = false
        /// `<locked/>`: the guest's memory stays in RAM.
        public var locked = false
        public var source: Source?
        public var access: Access?
        public var allocation: Allocation?
        /// `<allocation threads>`: how many threads allocate the memory at start.
        public var allocationThreads: UInt32?
        /// `<discard/>`: a file-backed guest's memory is discarded when it stops.
        public var discard = false

        static let schema = ElementSchema("memoryBacking", children: [
            ElementSchema("hugepages", children: [ElementSchema("page", attributes: ["size", "unit", "nodeset"])]),
            ElementSchema("nosharepages"), ElementSchema("locked"), ElementSchema("source", attributes: ["type"]),
            ElementSchema("access", attributes: ["mode"]), ElementSchema("allocation", attributes: ["mode", "threads"]), ElementSchema("discard"),
        ])

        public init() {}

        /// Reads a normalised `<memoryBacking>` (page sizes in KiB), with libvirt's messages.
        init(_ element: XMLElement) throws(DomainXMLError) {
            func value<Value: ModelledValue>(_ child: String, _ attribute: String, _: Value.Type) throws(DomainXMLError) -> Value? {
                guard let node = element.element(named: child), let text = node[attribute: attribute] else { return nil }
                guard let value = Value(rawValue: text) else {
                    throw DomainXMLError(.unsupported, line: node.line, "unknown memoryBacking/\(child)/\(attribute) '\(text)'")
                }
                return value
            }
            source = try value("source", "type", Source.self)
            access = try value("access", "mode", Access.self)
            allocation = try value("allocation", "mode", Allocation.self)
            if let threads = element.element(named: "allocation")?[attribute: "threads"] {
                guard let count = UInt32(threads) else {
                    throw DomainXMLError(.invalid, line: element.element(named: "allocation")?.line, "Failed to parse memory allocation threads")
                }
                allocationThreads = count == 0 ? nil : count
            }
            if let hugepages = element.element(named: "hugepages") {
                let pages = hugepages.elements(named: "page")
                for page in pages {
                    guard let size = page[attribute: "size"].flatMap({ UInt64($0) }) else {
                        throw DomainXMLError(.invalid, line: page.line, "missing element or attribute './@size'")
                    }
                    var nodeset: CPUSet?
                    if let text = page[attribute: "nodeset"] {
                        guard let set = CPUSet(parsing: text), !set.cpus.isEmpty else {
                            throw DomainXMLError(.unsupported, line: page.line, "Invalid value of 'nodeset': \(text)")
                        }
                        nodeset = set
                    }
                    hugePages.append(HugePage(sizeKiB: size, nodeset: nodeset))
                }
                if pages.isEmpty { hugePages = [HugePage(sizeKiB: 0)] }
            }
            noSharePages = element.element(named: "nosharepages") != nil
            locked = element.element(named: "locked") != nil
            discard = element.element(named: "discard") != nil
        }

        /// The page size for the guest's memory outside any NUMA node (or for node `node`):
        /// the page naming the node, else the one naming no node; nil for no huge pages, 0 for
        /// the host's default size.
        public func hugePageSizeKiB(node: Int? = nil) -> UInt64? {
            if let node, let page = hugePages.first(where: { $0.nodeset?.cpus.contains(node) == true }) { return page.sizeKiB }
            return hugePages.first { $0.nodeset == nil }?.sizeKiB
        }

        /// Whether the guest's RAM needs a memory backend object of its own (rather than QEMU's
        /// default one from `-m`).
        public var needsBackend: Bool {
            !hugePages.isEmpty || source == .file || source == .memfd || access != nil || allocation == .immediate
        }
    }
}

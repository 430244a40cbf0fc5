public import XMLTree

extension DomainDefinition {
    /// `<cpu>`.
    public struct CPU: Hashable, Sendable, ModelledElement {
        /// `<cpu mode>`.
        public enum Mode: String, ModelledValue {
            case custom, hostModel = "host-model", hostPassthrough = "host-passthrough", maximum
        }

        /// `<feature policy>`.
        public enum FeaturePolicy: String, ModelledValue {
            case force, require, optional, disable, forbid
        }

        /// `<cache mode>`.
        public enum CacheMode: String, ModelledValue {
            case emulate, passthrough, disable
        }

        /// `<feature>`: a CPUID feature switched on or off.
        public struct Feature: Hashable, Sendable {
            public var name: String
            public var policy: FeaturePolicy
        }

        public var mode: Mode?
        public var model: String?
        /// `<vendor>` of a custom model: what the model must be (libvirt checks it against the
        /// host); QEMU is not told.
        public var vendor: String?
        /// `<model vendor_id>`: the 12-character CPUID vendor string the guest sees instead of
        /// the model's (`-cpu …,vendor=`).
        public var vendorID: String?
        public var features: [Feature] = []
        /// `<cache mode>`; only level 3 (or no level) is modelled.
        public var cache: CacheMode?
        /// `migratable` of host-passthrough and maximum.
        public var migratable: FeatureSwitch?
        /// `<topology>`: sockets, dies, cores, threads.
        public var topology: Topology?
        /// `<numa><cell>`s: the guest's NUMA nodes (normalised: ids 0…n-1, memory in KiB,
        /// distances filled both ways).
        public var numaCells: [NUMACell] = []
        /// `<numa><interconnects>`: latencies and bandwidths between the nodes (ACPI HMAT).
        public var numaInterconnects: [NUMAInterconnect] = []

        /// Whether the guest gets an ACPI HMAT: its nodes have memory-side caches or
        /// interconnect figures (libvirt's `virDomainNumaHasHMAT`).
        public var hasHMAT: Bool { !numaInterconnects.isEmpty || numaCells.contains { !$0.caches.isEmpty } }
        /// `<maxphysaddr mode bits>`: the guest's physical address width, the host's
        /// (`passthrough`) or a given number of bits (`emulate`).
        public var maxPhysicalAddress: MaxPhysicalAddress?

        /// `<maxphysaddr>`.
        public struct MaxPhysicalAddress: Hashable, Sendable {
            /// `mode`.
            public enum Mode: String, ModelledValue {
                case passthrough, emulate
            }

            public var mode: Mode
            /// `bits`; nil when not given.
            public var bits: Int32?
        }

        static let schema = ElementSchema("cpu", attributes: ["mode", "match", "check", "migratable"], children: [
            ElementSchema("numa", children: [NUMACell.schema, NUMAInterconnect.schema]),
            .text("model", attributes: ["fallback", "vendor_id"]), .text("vendor"), Topology.schema,
            ElementSchema("feature", attributes: ["policy", "name"]), ElementSchema("cache", attributes: ["mode", "level"]),
            ElementSchema("maxphysaddr", attributes: ["mode", "bits"]),
        ])

        /// The CPU a `<cpu>` element describes, read as a definition's is.
        public init(element: XMLElement) throws(DomainXMLError) { try self.init(element) }

        init(_ element: XMLElement) throws(DomainXMLError) {
            mode = try Mode.optionalAttribute("mode", of: element)
            model = element.element(named: "model")?.text
            if mode != .hostPassthrough, mode != .maximum, let modelElement = element.element(named: "model"), let text = modelElement[attribute: "vendor_id"] {
                // libvirt's checks (virCPUDefParseXML): twelve bytes, no comma.
                guard text.utf8.count == 12 else { throw DomainXMLError(.invalid, line: modelElement.line, "vendor_id must be exactly 12 characters long") }
                guard !text.contains(",") else { throw DomainXMLError(.invalid, line: modelElement.line, "vendor id is invalid") }
                vendorID = text
            }
            topology = element.element(named: "topology").map(Topology.init)
            migratable = try FeatureSwitch.optionalAttribute("migratable", of: element)
            if let vendorElement = element.element(named: "vendor") {
                guard mode == nil || mode == .custom else {
                    throw DomainXMLError(.invalid, line: vendorElement.line, "CPU vendor specified without CPU model")
                }
                vendor = try Self.safeName(vendorElement.text, what: "CPU vendor", line: vendorElement.line)
            }
            for feature in element.elements(named: "feature") {
                guard let name = feature[attribute: "name"] else {
                    throw DomainXMLError(.invalid, line: feature.line, "Invalid CPU feature name")
                }
                let policy = try FeaturePolicy.optionalAttribute("policy", of: feature) ?? .require
                let checked = try Self.safeName(name, what: "CPU feature", line: feature.line)
                guard !features.contains(where: { $0.name == checked }) else {
                    throw DomainXMLError(.invalid, line: feature.line, "CPU feature '\(checked)' specified more than once")
                }
                features.append(Feature(name: checked, policy: policy))
            }
            for cell in element.element(named: "numa")?.elements(named: "cell") ?? [] { numaCells.append(try NUMACell(cell)) }
            numaInterconnects = element.element(named: "numa")?.element(named: "interconnects")?.elements.compactMap(NUMAInterconnect.init) ?? []
            if let cacheElement = element.element(named: "cache") {
                if let level = cacheElement[attribute: "level"], level != "3" {
                    throw DomainXMLError(.unsupported, line: cacheElement.line, "CPU cache level \(level) is not supported")
                }
                cache = try CacheMode.requiredAttribute("mode", of: cacheElement)
            }
            if let address = element.element(named: "maxphysaddr") {
                // libvirt's reading (virCPUDefParseXML): a mode, and a non-negative bits.
                let mode = try MaxPhysicalAddress.Mode.requiredAttribute("mode", of: address)
                var bits: Int32?
                if let text = address[attribute: "bits"] {
                    guard let value = AttributeValues.cInteger(text), value >= 0 else {
                        throw DomainXMLError(.invalid, line: address.line, "Invalid value for attribute 'bits' in element 'maxphysaddr': '\(text)'. Expected non-negative integer value")
                    }
                    bits = value
                }
                maxPhysicalAddress = MaxPhysicalAddress(mode: mode, bits: bits)
            }
        }

        /// A name that goes into QEMU's `-cpu` option: letters, digits, `_`, `-` and `.` only.
        static func safeName(_ text: String, what: String, line: Int) throws(DomainXMLError) -> String {
            guard !text.isEmpty, text.utf8.count <= 64, text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }) else {
                throw DomainXMLError(.invalid, line: line, "invalid \(what) name '\(text)'")
            }
            return text
        }
    }

    /// `<cpu><topology>`.
    public struct Topology: Hashable, Sendable, ModelledElement {
        public var sockets: Int
        public var dies: Int
        public var cores: Int
        public var threads: Int

        static let schema = ElementSchema("topology", attributes: ["sockets", "dies", "cores", "threads"])

        /// Reads a `<topology>` whose numbers were range-checked by the normaliser.
        init(_ element: XMLElement) {
            func number(_ name: String) -> Int { Int(element[attribute: name] ?? "1") ?? 1 }
            sockets = number("sockets")
            dies = number("dies")
            cores = number("cores")
            threads = number("threads")
        }

        /// The vCPUs the topology describes (bounded by the definition's checks).
        public var vcpuCount: Int { sockets * dies * cores * threads }

        public init(sockets: Int, dies: Int, cores: Int, threads: Int) {
            self.sockets = sockets
            self.dies = dies
            self.cores = cores
            self.threads = threads
        }
    }

    /// `<cpu><numa><cell>`: one guest NUMA node.
    public struct NUMACell: Hashable, Sendable {
        /// `<cell memAccess>`: whether the node's memory is shared with other processes.
        public enum MemoryAccess: String, ModelledValue {
            case shared, `private`
        }

        public var id: Int
        /// The vCPUs in the cell (empty: a cell of memory only).
        public var cpus: CPUSet
        public var memoryKiB: UInt64
        public var memoryAccess: MemoryAccess?
        /// `<cell discard>`: whether a file-backed node's memory is discarded when the guest
        /// stops (nil: `<memoryBacking><discard>` decides).
        public var discard: Bool?
        /// `<distances><sibling id value>`: the distance to each other node.
        public var distances: [Int: Int] = [:]
        /// `<cache>`s: the node's memory-side caches (ACPI HMAT).
        public var caches: [NUMACache] = []

        static let schema = ElementSchema("cell", attributes: ["id", "cpus", "memory", "unit", "memAccess", "discard"], children: [
            ElementSchema("distances", children: [ElementSchema("sibling", attributes: ["id", "value"])]), NUMACache.schema,
        ])

        /// Reads a normalised cell (``DomainNormalizer/normalizeNUMA(_:)`` checked it).
        init(_ element: XMLElement) throws(DomainXMLError) {
            id = Int(element[attribute: "id"] ?? "") ?? 0
            cpus = element[attribute: "cpus"].flatMap(CPUSet.init(parsing:)) ?? CPUSet([])
            memoryKiB = UInt64(element[attribute: "memory"] ?? "") ?? 0
            memoryAccess = try MemoryAccess.optionalAttribute("memAccess", of: element)
            discard = try AttributeValues.yesNo("discard", of: element)
            for sibling in element.element(named: "distances")?.elements(named: "sibling") ?? [] {
                if let node = sibling[attribute: "id"].flatMap({ Int($0) }), let value = sibling[attribute: "value"].flatMap({ Int($0) }) { distances[node] = value }
            }
            caches = element.elements(named: "cache").map(NUMACache.init)
        }
    }
}

extension DomainDefinition.CPU {
    /// This CPU with each feature QEMU removed from its model listed as disabled
    /// (``LiveCPUUpdate/disablingRemovedFeatures(_:map:)``), so QEMU is asked for the model
    /// without them, as libvirt asks.
    public func disablingRemovedFeatures(map: X86CPUMap) -> DomainDefinition.CPU {
        guard (mode ?? .custom) == .custom, let model, let known = map.model(named: model) else { return self }
        var updated = self
        for removed in known.removedFeatures where !updated.features.contains(where: { $0.name == removed }) {
            updated.features.append(Feature(name: removed, policy: .disable))
        }
        return updated
    }
}

import XMLTree

/// The ACPI HMAT parts of `<cpu><numa>`: each cell's memory-side `<cache>`s and the
/// `<interconnects>`, read, checked and written as libvirt 9.0 does (`numa_conf.c`), with its
/// messages. A quirk kept: libvirt reads a cache's `<size>` in KiB and its `<line>` in bytes
/// whatever their `unit` says (it looks for a `unit` element, not the attribute). A difference:
/// a cache without `associativity` or `policy` has `none`, which is how libvirt writes `none`
/// (its own parser refuses what it wrote; Corral reads its own documents again).
extension DomainNormalizer {
    /// A cell's `<cache>`s as libvirt writes them; `cell`: its id, for the messages.
    static func normalizedNUMACaches(_ cellElement: XMLElement, cell: Int) throws(DomainXMLError) -> [XMLElement] {
        typealias Cache = DomainDefinition.NUMACache
        var written: [XMLElement] = []
        var levels: Set<Int> = []
        for cache in cellElement.elements(named: "cache") {
            guard let levelText = cache[attribute: "level"] else {
                throw DomainXMLError(.invalid, line: cache.line, "Missing 'level' attribute in cache element for NUMA node \(cell)")
            }
            guard let level = UInt32(levelText), level > 0 else {
                throw DomainXMLError(.invalid, line: cache.line, "Invalid 'level' attribute in cache element for NUMA node \(cell)")
            }
            let associativityText = cache[attribute: "associativity"] ?? Cache.Associativity.none.rawValue
            guard let associativity = Cache.Associativity(rawValue: associativityText) else {
                throw DomainXMLError(.invalid, line: cache.line, "Invalid cache associativity '\(associativityText)'")
            }
            let policyText = cache[attribute: "policy"] ?? Cache.Policy.none.rawValue
            guard let policy = Cache.Policy(rawValue: policyText) else {
                throw DomainXMLError(.invalid, line: cache.line, "Invalid cache policy '\(policyText)'")
            }
            let size = try scaledNumber(cache.element(named: "size")?[attribute: "value"], what: "./size/@value", line: cache.line)
            let line = try scaledNumber(cache.element(named: "line")?[attribute: "value"], what: "./line/@value", line: cache.line)
            // libvirt's validation (virDomainNumaDefValidate).
            guard level <= 3 else { throw DomainXMLError(.invalid, line: cache.line, "Ain't nobody heard of that much cache level") }
            guard levels.insert(Int(level)).inserted else { throw DomainXMLError(.invalid, line: cache.line, "Cache level '\(level)' already defined") }
            var attributes = [("level", String(level))]
            if associativity != .none { attributes.append(("associativity", associativity.rawValue)) }
            if policy != .none { attributes.append(("policy", policy.rawValue)) }
            var children = [element("size", [("value", String(size)), ("unit", "KiB")])]
            if line > 0 { children.append(element("line", [("value", String(line)), ("unit", "B")])) }
            written.append(element("cache", attributes, children: children))
        }
        return written
    }

    /// `<interconnects>` as libvirt writes it (nil when it holds no figure); `cells`: whether
    /// each cell has vCPUs and its cache levels, for libvirt's checks.
    static func normalizedNUMAInterconnects(_ numa: XMLElement, cells: [(hasCPUs: Bool, cacheLevels: Set<Int>)]) throws(DomainXMLError) -> XMLElement? {
        typealias Interconnect = DomainDefinition.NUMAInterconnect
        guard let interconnects = numa.element(named: "interconnects") else { return nil }
        var read: [(kind: Interconnect.Kind, initiator: Int, target: Int, cache: Int, type: Interconnect.AccessType, value: UInt64, line: Int?)] = []
        for entry in interconnects.elements where entry.namespace == nil {
            // Unknown children are ignored, as libvirt ignores them.
            guard let kind = Interconnect.Kind(rawValue: entry.name) else { continue }
            let value: UInt64
            switch kind {
            case .latency:
                guard let text = entry[attribute: "value"] else {
                    throw DomainXMLError(.invalid, line: entry.line, "Missing required attribute 'value' in element 'latency'")
                }
                guard let number = UInt64(text) else {
                    throw DomainXMLError(.invalid, line: entry.line, "Invalid value for attribute 'value' in element 'latency': '\(text)'. Expected integer value")
                }
                value = number
            case .bandwidth:
                value = try kibibytes(element("value", entry[attribute: "unit"].map { [("unit", $0)] } ?? [], text: entry[attribute: "value"] ?? ""))
            }
            let initiator = try requiredUnsigned("initiator", of: entry)
            let target = try requiredUnsigned("target", of: entry)
            let cache = try optionalUnsigned("cache", of: entry) ?? 0
            let type = try Interconnect.AccessType.requiredAttribute("type", of: entry)
            read.append((kind, initiator, target, cache, type, value, entry.line))
        }
        // libvirt's validation (virDomainNumaDefValidate).
        for (index, entry) in read.enumerated() {
            guard entry.initiator < cells.count else { throw DomainXMLError(.invalid, line: entry.line, "'initiator' refers to a non-existent NUMA node") }
            guard entry.target < cells.count else { throw DomainXMLError(.invalid, line: entry.line, "'target' refers to a non-existent NUMA node") }
            guard cells[entry.initiator].hasCPUs else { throw DomainXMLError(.invalid, line: entry.line, "NUMA nodes without CPUs can't be initiator") }
            if entry.cache > 0, !cells[entry.target].cacheLevels.contains(entry.cache) {
                throw DomainXMLError(.invalid, line: entry.line, "'cache' refers to a non-existent NUMA node cache")
            }
            for earlier in read[..<index] {
                if earlier.kind == entry.kind && earlier.initiator == entry.initiator && earlier.target == entry.target && earlier.cache == entry.cache && earlier.type == entry.type {
                    throw DomainXMLError(.invalid, line: entry.line, "Duplicate info for NUMA latencies")
                }
                if entry.initiator != entry.target && entry.initiator == earlier.target && entry.target == earlier.initiator {
                    throw DomainXMLError(.invalid, line: entry.line, "Link already defined")
                }
            }
        }
        guard !read.isEmpty else { return nil }
        return element("interconnects", children: read.map { entry in
            var attributes = [("initiator", String(entry.initiator)), ("target", String(entry.target))]
            if entry.cache > 0 { attributes.append(("cache", String(entry.cache))) }
            attributes += [("type", entry.type.rawValue), ("value", String(entry.value))]
            if entry.kind == .bandwidth { attributes.append(("unit", "KiB")) }
            return element(entry.kind.rawValue, attributes)
        })
    }

    /// A number libvirt reads with `virParseScaledValue` and no unit: required, unsigned.
    private static func scaledNumber(_ text: String?, what: String, line: Int?) throws(DomainXMLError) -> UInt64 {
        guard let text else { throw DomainXMLError(.invalid, line: line, "missing element or attribute '\(what)'") }
        guard let value = UInt64(text) else { throw DomainXMLError(.invalid, line: line, "Invalid value '\(text)' for element or attribute '\(what)'") }
        return value
    }
}

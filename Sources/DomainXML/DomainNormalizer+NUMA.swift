import XMLTree

extension DomainNormalizer {
    /// libvirt's local NUMA distance; remote distances are above it, up to 255.
    static let localNUMADistance = 10
    /// QEMU's most NUMA nodes.
    static let maximumNUMACells = 128

    /// `<cpu><numa>` as libvirt keeps it: each cell's memory in KiB, `<memory>` the sum of the
    /// cells', ids 0…n-1 (written in any order, kept in id order), vCPUs within `<vcpu>` and in
    /// one cell each (a cell may have none), distances 10 to itself and 11…255 to others,
    /// written both ways when given one way.
    static func normalizeNUMA(_ root: inout XMLElement) throws(DomainXMLError) {
        guard let numa = root.element(named: "cpu")?.element(named: "numa") else { return }
        let cells = numa.elements(named: "cell")
        guard !cells.isEmpty else { throw DomainXMLError(.invalid, line: numa.line, "NUMA topology defined without NUMA cells") }
        // QEMU's limit (MAX_NODES); it also bounds the distance matrix built below.
        guard cells.count <= maximumNUMACells else {
            throw DomainXMLError(.unsupported, line: numa.line, "at most \(maximumNUMACells) NUMA cells are supported, not \(cells.count)")
        }
        let vcpus = Int(root.element(named: "vcpu")?.text.trimmingWhitespace() ?? "1") ?? 1
        var memories: [UInt64?] = Array(repeating: nil, count: cells.count)
        var owner: [Int: Int] = [:]
        var distances: [[Int?]] = Array(repeating: Array(repeating: nil, count: cells.count), count: cells.count)
        var positionOfCell: [Int] = Array(repeating: 0, count: cells.count)
        for (position, cell) in cells.enumerated() {
            // A cell without an id is numbered by its place, as libvirt numbers it.
            let idText = cell[attribute: "id"]
            guard let id = idText.map({ Int($0) }) ?? position, id >= 0 else {
                throw DomainXMLError(.invalid, line: cell.line, "Invalid value for attribute 'id' in element 'cell': '\(idText ?? "")'. Expected non-negative integer value")
            }
            guard id < cells.count else {
                throw DomainXMLError(.invalid, line: cell.line,
                    "Exactly one 'cell' element per guest NUMA cell allowed, non-contiguous ranges or ranges not starting from 0 are not allowed")
            }
            guard memories[id] == nil else { throw DomainXMLError(.invalid, line: cell.line, "Duplicate NUMA cell info for cell id '\(id)'") }
            positionOfCell[id] = position
            // A cell may have no vCPUs (memory only), as libvirt allows.
            var cpus = DomainDefinition.CPUSet([])
            if let cpusText = cell[attribute: "cpus"] {
                guard let parsed = DomainDefinition.CPUSet(parsing: cpusText) else {
                    throw DomainXMLError(.invalid, line: cell.line, "Missing or invalid 'cpus' attribute in NUMA cell")
                }
                cpus = parsed
            }
            for cpu in cpus.cpus {
                guard cpu < vcpus else { throw DomainXMLError(.invalid, line: cell.line, "Number of CPUs in <numa> exceeds the <vcpu> count") }
                if let other = owner[cpu] { throw DomainXMLError(.invalid, line: cell.line, "NUMA cells \(other) and \(id) have overlapping vCPU ids") }
                owner[cpu] = id
            }
            guard let memoryText = cell[attribute: "memory"] else { throw DomainXMLError(.invalid, line: cell.line, "Missing 'memory' attribute in NUMA cell") }
            let memory = try kibibytes(element("memory", cell[attribute: "unit"].map { [("unit", $0)] } ?? [], text: memoryText))
            guard memory > 0 else { throw DomainXMLError(.invalid, line: cell.line, "NUMA cell \(id) has no memory") }
            memories[id] = memory
            for sibling in cell.element(named: "distances")?.elements(named: "sibling") ?? [] {
                guard let node = sibling[attribute: "id"].flatMap({ Int($0) }), (0..<cells.count).contains(node) else {
                    throw DomainXMLError(.invalid, line: sibling.line, "'sibling_id \(sibling[attribute: "id"] ?? "")' does not refer to a valid cell within NUMA 'cell id \(id)'")
                }
                guard let value = sibling[attribute: "value"].flatMap({ Int($0) }),
                    node == id ? value == localNUMADistance : (localNUMADistance + 1...255).contains(value)
                else {
                    throw DomainXMLError(.invalid, line: sibling.line, "'value \(sibling[attribute: "value"] ?? "")' is invalid for 'sibling id \(node)' under NUMA 'cell id \(id)'")
                }
                distances[id][node] = value
            }
        }
        var total: UInt64 = 0
        for case let memory? in memories {
            let (sum, overflow) = total.addingReportingOverflow(memory)
            guard !overflow else { throw DomainXMLError(.invalid, line: numa.line, "the NUMA cells' memory is too large") }
            total = sum
        }
        guard total <= DomainLimits.maximumMemoryKiB else { throw DomainXMLError(.invalid, line: numa.line, "the NUMA cells' memory is too large") }
        let anyDistance = distances.contains { $0.contains { $0 != nil } }
        if anyDistance {
            for i in 0..<cells.count {
                for j in 0..<cells.count where distances[i][j] == nil {
                    distances[i][j] = distances[j][i] ?? (i == j ? localNUMADistance : 20)
                }
            }
        }
        setMemory(&root, "memory", total)
        // Each cell rewritten, then all of them put in id order where the cells were.
        var rewritten: [XMLElement] = []
        rewritten.reserveCapacity(cells.count)
        var performance: [(hasCPUs: Bool, cacheLevels: Set<Int>)] = []
        for id in 0..<cells.count {
            var cell = cells[positionOfCell[id]]
            if cell[attribute: "id"] == nil { cell.attributes.insert(XMLAttribute(name: "id", value: String(id)), at: 0) }
            if let cpus = cell[attribute: "cpus"], DomainDefinition.CPUSet(parsing: cpus)?.cpus.isEmpty == true { cell.attributes.removeAll { $0.name == "cpus" } }
            cell[attribute: "memory"] = String(memories[id] ?? 0)
            cell[attribute: "unit"] = "KiB"
            if anyDistance {
                let siblings = (0..<cells.count).map { node in
                    element("sibling", [("id", String(node)), ("value", String(distances[id][node] ?? localNUMADistance))])
                }
                cell.children.removeAll { if case .element(let e) = $0, e.name == "distances" { true } else { false } }
                cell.children.append(.element(element("distances", children: siblings)))
            }
            // Memory-side caches (ACPI HMAT), after the distances.
            var cacheLevels: Set<Int> = []
            if cell.element(named: "cache") != nil {
                let caches = try normalizedNUMACaches(cell, cell: id)
                cell.children.removeAll { if case .element(let e) = $0, e.name == "cache", e.namespace == nil { true } else { false } }
                cell.children += caches.map { .element($0) }
                cacheLevels = Set(caches.compactMap { $0[attribute: "level"].flatMap { Int($0) } })
            }
            performance.append((cell[attribute: "cpus"] != nil, cacheLevels))
            rewritten.append(cell)
        }
        let interconnects = try normalizedNUMAInterconnects(numa, cells: performance)
        update(&root, "cpu") { cpu in
            cpu.updateElements { numa in
                guard numa.name == "numa", numa.namespace == nil else { return }
                var next = rewritten.makeIterator()
                numa.updateElements { cell in
                    guard cell.name == "cell", cell.namespace == nil, let replacement = next.next() else { return }
                    cell = replacement
                }
                // The interconnects after the cells, as libvirt writes them (or none).
                numa.children.removeAll { if case .element(let e) = $0, e.name == "interconnects", e.namespace == nil { true } else { false } }
                if let interconnects { numa.children.append(.element(interconnects)) }
            }
        }
    }
}

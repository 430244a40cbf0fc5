import XMLTree

extension DomainNormalizer {
    /// libvirt's local NUMA distance; remote distances are above it, up to 255.
    static let localNUMADistance = 10
    /// QEMU's most NUMA nodes.
    static let maximumNUMACells = 128

    /// `<cpu><numa>` as libvirt keeps it: each cell's memory in KiB, `<memory>` the sum of the
    /// cells', ids 0…n-1 in order, vCPUs within `<vcpu>` and in one cell each, distances
    /// 10 to itself and 11…255 to others, written both ways when given one way.
    static func normalizeNUMA(_ root: inout XMLElement) throws(DomainXMLError) {
        guard let numa = root.element(named: "cpu")?.element(named: "numa") else { return }
        let cells = numa.elements(named: "cell")
        guard !cells.isEmpty else { throw DomainXMLError(.invalid, line: numa.line, "NUMA topology defined without NUMA cells") }
        // QEMU's limit (MAX_NODES); it also bounds the distance matrix built below.
        guard cells.count <= maximumNUMACells else {
            throw DomainXMLError(.unsupported, line: numa.line, "at most \(maximumNUMACells) NUMA cells are supported, not \(cells.count)")
        }
        let vcpus = Int(root.element(named: "vcpu")?.text.trimmingWhitespace() ?? "1") ?? 1
        var memories: [UInt64] = []
        var owner: [Int: Int] = [:]
        var distances: [[Int?]] = Array(repeating: Array(repeating: nil, count: cells.count), count: cells.count)
        for (position, cell) in cells.enumerated() {
            // A cell without an id is numbered by its place, as libvirt numbers it.
            guard let id = cell[attribute: "id"].map({ Int($0) }) ?? position, id == position else {
                throw DomainXMLError(.invalid, line: cell.line, "NUMA cell ids must be 0 to \(cells.count - 1) in order, not '\(cell[attribute: "id"] ?? "")'")
            }
            guard let cpusText = cell[attribute: "cpus"], let cpus = DomainDefinition.CPUSet(parsing: cpusText), !cpus.cpus.isEmpty else {
                throw DomainXMLError(.invalid, line: cell.line, "Missing or invalid 'cpus' attribute in NUMA cell")
            }
            for cpu in cpus.cpus {
                guard cpu < vcpus else { throw DomainXMLError(.invalid, line: cell.line, "Number of CPUs in <numa> exceeds the <vcpu> count") }
                if let other = owner[cpu] { throw DomainXMLError(.invalid, line: cell.line, "NUMA cells \(other) and \(id) have overlapping vCPU ids") }
                owner[cpu] = id
            }
            guard let memoryText = cell[attribute: "memory"] else { throw DomainXMLError(.invalid, line: cell.line, "Missing 'memory' attribute in NUMA cell") }
            let memory = try kibibytes(element("memory", cell[attribute: "unit"].map { [("unit", $0)] } ?? [], text: memoryText))
            guard memory > 0 else { throw DomainXMLError(.invalid, line: cell.line, "NUMA cell \(id) has no memory") }
            memories.append(memory)
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
        for memory in memories {
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
        update(&root, "cpu") { cpu in
            cpu.updateElements { numa in
                guard numa.name == "numa", numa.namespace == nil else { return }
                var position = 0
                numa.updateElements { cell in
                    guard cell.name == "cell", cell.namespace == nil, position < memories.count else { return }
                    if cell[attribute: "id"] == nil { cell.attributes.insert(XMLAttribute(name: "id", value: String(position)), at: 0) }
                    cell[attribute: "memory"] = String(memories[position])
                    cell[attribute: "unit"] = "KiB"
                    if anyDistance {
                        let siblings = (0..<cells.count).map { node in
                            element("sibling", [("id", String(node)), ("value", String(distances[position][node] ?? localNUMADistance))])
                        }
                        cell.children.removeAll { if case .element(let e) = $0, e.name == "distances" { true } else { false } }
                        cell.children.append(.element(element("distances", children: siblings)))
                    }
                    position += 1
                }
            }
        }
    }
}

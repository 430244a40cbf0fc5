import CorralJSON
import DomainXML

extension Builder {
    /// The guest's NUMA nodes: a memory backend each (`ram-nodeN`; shared memory from memfd
    /// when the cell's `memAccess` is shared) and `-numa node` with its vCPUs, then every
    /// distance when the XML gives any.
    mutating func addNUMANodes() throws(CommandLineError) {
        guard let cells = domain.cpu?.numaCells, !cells.isEmpty else { return }
        for cell in cells {
            let (bytes, overflow) = cell.memoryKiB.multipliedReportingOverflow(by: 1024)
            guard !overflow else { throw CommandLineError(.unsupported, "NUMA cell \(cell.id) has too much memory") }
            // The cell's own access, else the guest's (`<memoryBacking><access>`), as libvirt.
            let access: DomainDefinition.MemoryBacking.Access? = cell.memoryAccess.map { $0 == .shared ? .shared : .private } ?? domain.memoryBacking.access
            add("-object", json: try memoryBackend(id: "ram-node\(cell.id)", bytes: bytes, node: cell.id, access: access, discard: cell.discard))
            var node = [("nodeid", String(cell.id))]
            for range in Self.ranges(cell.cpus.cpus) { node.append(("cpus", range)) }
            node.append(("memdev", "ram-node\(cell.id)"))
            add("-numa", try QEMUKeyValue.render("node", node))
        }
        guard cells.contains(where: { !$0.distances.isEmpty }) else { return }
        for source in cells {
            for destination in cells {
                guard let value = source.distances[destination.id] else { continue }
                add("-numa", "dist,src=\(source.id),dst=\(destination.id),val=\(value)")
            }
        }
    }

    /// `0-1`, `4`: the runs of consecutive CPUs, as QEMU's repeated `cpus=` takes them.
    static func ranges(_ cpus: Set<Int>) -> [String] {
        var result: [String] = []
        var start: Int?, previous = -2
        for cpu in cpus.sorted() {
            if cpu != previous + 1 {
                if let start { result.append(start == previous ? "\(start)" : "\(start)-\(previous)") }
                start = cpu
            }
            previous = cpu
        }
        if let start { result.append(start == previous ? "\(start)" : "\(start)-\(previous)") }
        return result
    }
}

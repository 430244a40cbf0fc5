import CorralJSON
import DomainXML

extension Builder {
    /// The guest's NUMA nodes: a memory backend each (`ram-nodeN`; shared memory from memfd
    /// when the cell's `memAccess` is shared) and `-numa node` with its vCPUs, then every
    /// distance when the XML gives any; with an ACPI HMAT, each node's initiator, then the
    /// latencies and bandwidths (`hmat-lb`), then the caches (`hmat-cache`, which QEMU takes
    /// only after them), as libvirt's qemuBuildNumaCommandLine writes them.
    mutating func addNUMANodes() throws(CommandLineError) {
        guard let cpu = domain.cpu, !cpu.numaCells.isEmpty else { return }
        let cells = cpu.numaCells
        let hmat = cpu.hasHMAT
        // The node a node without vCPUs is reached from: libvirt's first node with vCPUs.
        let firstInitiator = cells.first { !$0.cpus.cpus.isEmpty }?.id
        if hmat && firstInitiator == nil { throw CommandLineError(.unsupported, "At least one NUMA node has to have CPUs") }
        for cell in cells {
            let (bytes, overflow) = cell.memoryKiB.multipliedReportingOverflow(by: 1024)
            guard !overflow else { throw CommandLineError(.unsupported, "NUMA cell \(cell.id) has too much memory") }
            // The cell's own access, else the guest's (`<memoryBacking><access>`), as libvirt.
            let access: DomainDefinition.MemoryBacking.Access? = cell.memoryAccess.map { $0 == .shared ? .shared : .private } ?? domain.memoryBacking.access
            add("-object", json: try memoryBackend(id: "ram-node\(cell.id)", bytes: bytes, node: cell.id, access: access, discard: cell.discard))
            var node = [("nodeid", String(cell.id))]
            for range in Self.ranges(cell.cpus.cpus) { node.append(("cpus", range)) }
            if hmat { node.append(("initiator", String(Self.initiator(of: cell, in: cpu) ?? firstInitiator ?? 0))) }
            node.append(("memdev", "ram-node\(cell.id)"))
            add("-numa", try QEMUKeyValue.render("node", node))
        }
        if cells.contains(where: { !$0.distances.isEmpty }) {
            for source in cells {
                for destination in cells {
                    guard let value = source.distances[destination.id] else { continue }
                    add("-numa", "dist,src=\(source.id),dst=\(destination.id),val=\(value)")
                }
            }
        }
        guard hmat else { return }
        for link in cpu.numaInterconnects {
            let figure = link.kind == .latency ? "latency=\(link.value)" : "bandwidth=\(link.value)K"
            add("-numa", "hmat-lb,initiator=\(link.initiator),target=\(link.target),hierarchy=\(Self.memoryHierarchy(link.cache)),"
                + "data-type=\(link.accessType.rawValue)-\(link.kind.rawValue),\(figure)")
        }
        for cell in cells {
            for cache in cell.caches {
                let associativity = cache.associativity == .full ? "complex" : cache.associativity.rawValue
                let policy = switch cache.policy {
                case .none: "none"
                case .writeback: "write-back"
                case .writethrough: "write-through"
                }
                add("-numa", "hmat-cache,node-id=\(cell.id),size=\(cache.sizeKiB)K,level=\(cache.level),associativity=\(associativity),policy=\(policy),line=\(cache.lineBytes)")
            }
        }
    }

    /// QEMU's name of the memory level an `hmat-lb` figure is for (libvirt's
    /// qemuDomainMemoryHierarchy): the memory itself, or a cache level.
    static func memoryHierarchy(_ cache: Int) -> String {
        switch cache {
        case 1: "first-level"
        case 2: "second-level"
        case 3: "third-level"
        default: "memory"
        }
    }

    /// The node a NUMA node's memory is reached from (libvirt's virDomainNumaGetNodeInitiator):
    /// itself when it has vCPUs, else the initiator of its lowest latency, else of its highest
    /// bandwidth; nil when the interconnects say neither.
    static func initiator(of cell: DomainDefinition.NUMACell, in cpu: DomainDefinition.CPU) -> Int? {
        if !cell.cpus.cpus.isEmpty { return cell.id }
        var lowestLatency: (value: UInt64, initiator: Int)?
        var highestBandwidth: (value: UInt64, initiator: Int)?
        for link in cpu.numaInterconnects where link.target == cell.id {
            switch link.kind {
            case .latency: if link.value < (lowestLatency?.value ?? UInt64(UInt32.max)) { lowestLatency = (link.value, link.initiator) }
            case .bandwidth: if link.value > (highestBandwidth?.value ?? 0) { highestBandwidth = (link.value, link.initiator) }
            }
        }
        return lowestLatency?.initiator ?? highestBandwidth?.initiator
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

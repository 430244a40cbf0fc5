import CorralJSON
import DomainXML

/// The guest's RAM: `-m`, a backend object when `<memoryBacking>` asks for one, and
/// `-overcommit`. The backend's properties follow libvirt's `qemuBuildMemoryBackendProps`, with
/// one difference: huge pages come from a memfd (`hugetlb`), never from a file on a hugetlbfs
/// mount, so no mount or per-guest directory has to exist (docs/decisions.md).
extension Builder {
    /// The id QEMU gives the RAM of a guest without NUMA nodes; its own backend takes the same
    /// id, so the migration stream names the same RAM block.
    static let systemMemoryID = "pc.ram"

    /// Whether the RAM of a guest without NUMA nodes gets a backend of its own
    /// (`-machine memory-backend=pc.ram`).
    var usesSystemMemoryBackend: Bool {
        domain.memoryBacking.needsBackend && (domain.cpu?.numaCells ?? []).isEmpty
    }

    mutating func addMemory() throws(CommandLineError) {
        // The initial RAM; memory devices come on top, up to `maxmem`, in `slots` DIMM slots.
        let initial = domain.initialMemoryKiB
        if domain.hasMemoryHotplug, let slots = domain.memorySlots, let maximum = domain.maxMemoryKiB {
            add("-m", "size=\(initial)k,slots=\(slots),maxmem=\(maximum)k")
        } else {
            add("-m", "size=\(initial)k")
        }
        if usesSystemMemoryBackend {
            let (bytes, overflow) = initial.multipliedReportingOverflow(by: 1024)
            guard !overflow else { throw CommandLineError(.unsupported, "the guest has too much memory") }
            add("-object", json: try memoryBackend(id: Self.systemMemoryID, bytes: bytes, node: nil, access: domain.memoryBacking.access))
        }
        add("-overcommit", "mem-lock=\(domain.memoryBacking.locked ? "on" : "off")")
    }

    /// The backend of the guest's RAM (`node` nil) or of NUMA cell `node`, `bytes` large, with
    /// `access` (the cell's own, else `<memoryBacking><access>`):
    /// - huge pages, a memfd source or shared access: `memory-backend-memfd` (`hugetlb`,
    ///   `hugetlbsize`, `share`);
    /// - a file source: `memory-backend-file` on a file in the guest's run directory
    ///   (`discard-data`: `discard`, a NUMA cell's own, else `<memoryBacking><discard>`; `share`);
    /// - else `memory-backend-ram`.
    /// Huge pages and `<allocation mode='immediate'>` allocate it all at start (`prealloc`).
    func memoryBackend(
        id: String, bytes: UInt64, node: Int?, access: DomainDefinition.MemoryBacking.Access?, pageSizeKiB: UInt64? = nil, sourceNodes: String? = nil,
        discard: Bool? = nil
    ) throws(CommandLineError) -> JSONValue {
        let backing = domain.memoryBacking
        // A memory device's own page size wins over `<memoryBacking>`'s.
        let pageKiB: UInt64?
        if let pageSizeKiB { pageKiB = try hostHugePageSizeKiB(pageSizeKiB) } else { pageKiB = try hugePageSizeKiB(node: node) }
        var properties: [(String, JSONValue)] = []
        let type: String
        if backing.source == .file && pageKiB == nil {
            type = "memory-backend-file"
            properties.append(("mem-path", .string(context.runDirectory + "/" + id)))
            if let discardData = discard ?? (backing.discard ? true : nil) { properties.append(("discard-data", .bool(discardData))) }
            if let access { properties.append(("share", .bool(access == .shared))) }
        } else if pageKiB != nil || backing.source == .memfd || access == .shared {
            type = "memory-backend-memfd"
            if let pageKiB {
                properties.append(("hugetlb", .bool(true)))
                properties.append(("hugetlbsize", .unsigned(pageKiB * 1024)))
            }
            if let access { properties.append(("share", .bool(access == .shared))) }
        } else {
            type = "memory-backend-ram"
        }
        // Only the guest's own RAM: a backend QEMU made from `-m` names its block without the
        // canonical path, and a migration between the two kinds must find the same block.
        if node == nil && type != "memory-backend-ram" { properties.append(("x-use-canonical-path-for-ramblock-id", .bool(false))) }
        if backing.allocation == .immediate || pageKiB != nil { properties.append(("prealloc", .bool(true))) }
        if let threads = backing.allocationThreads { properties.append(("prealloc-threads", .unsigned(UInt64(threads)))) }
        properties.append(("size", .unsigned(bytes)))
        // The host NUMA nodes it comes from (its cell's <memnode>, else <numatune><memory>), but
        // for `restrictive`, which only the control group's cpuset applies (libvirt's rule).
        // A memory device's own `<source><nodemask>` wins, with the mode its cell's would have.
        let tuned = domain.numaTune?.hostNodes(cell: node)
        var nodes = tuned?.nodeset
        if let sourceNodes {
            guard let set = DomainDefinition.CPUSet(parsing: sourceNodes), !set.cpus.isEmpty else {
                throw CommandLineError(.unsupported, "Invalid value of 'nodemask': \(sourceNodes)")
            }
            nodes = set
        }
        let mode = tuned?.mode ?? domain.numaTune?.mode ?? .strict
        if let nodes, mode != .restrictive {
            properties.append(("host-nodes", .array(nodes.cpus.sorted().map { .unsigned(UInt64($0)) })))
            properties.append(("policy", .string(mode == .strict ? "bind" : mode.rawValue)))
        }
        return .object([("qom-type", .string(type)), ("id", .string(id))] + properties)
    }

    /// The huge page size for the RAM outside NUMA nodes or of NUMA node `node`, in KiB; nil
    /// for none (or for pages of the base size, which libvirt takes as none).
    func hugePageSizeKiB(node: Int?) throws(CommandLineError) -> UInt64? {
        guard let size = domain.memoryBacking.hugePageSizeKiB(node: node) else { return nil }
        return try hostHugePageSizeKiB(size)
    }

    /// `size` (0: the host's default huge page size) as a huge page size of this host; nil for
    /// the base page size.
    func hostHugePageSizeKiB(_ requested: UInt64) throws(CommandLineError) -> UInt64? {
        var size = requested
        let host = context.hugePages
        if size == 0 {
            guard let fallback = host.defaultSizeKiB else { throw CommandLineError(.unsupported, "Unable to find any usable huge pages on this host") }
            size = fallback
        }
        if size == host.systemPageSizeKiB { return nil }
        guard host.sizesKiB.contains(size) else {
            throw CommandLineError(.unsupported, "Unable to find any usable huge pages of \(size) KiB on this host")
        }
        return size
    }
}

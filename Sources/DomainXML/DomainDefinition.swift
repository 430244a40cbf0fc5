public import XMLTree

/// A domain definition: the parts of libvirt's domain XML that Corral models, as value types,
/// one per element (in `Model/`), each with its schema and its reading; closed sets of values
/// are enums.
///
/// It is read from the normalised document (see ``DomainXMLParser``), so defaults are filled in
/// and units converted. Whatever the document holds that is not modelled here is kept in the
/// document itself (which is what is formatted back) and listed in ``ParsedDomain/unmodelled``.
public struct DomainDefinition: Hashable, Sendable, ModelledElement {
    /// `<domain type>`: the accelerator.
    public enum VirtualizationType: String, ModelledValue {
        case qemu, kvm
    }

    public var type: VirtualizationType
    public var name: String
    /// The canonical lower-case UUID.
    public var uuid: String
    public var title: String?
    public var description: String?
    /// The guest's memory in KiB (`<memory>`): its initial RAM and its memory devices.
    public var memoryKiB: UInt64
    /// `<maxMemory>` in KiB and its `slots`: how far memory devices may take the guest.
    public var maxMemoryKiB: UInt64?
    public var memorySlots: Int?
    /// Current memory in KiB.
    public var currentMemoryKiB: UInt64
    /// The maximum number of vCPUs (`<vcpu>`).
    public var vcpus: Int
    /// How many of them are plugged in at start (`<vcpu current>`).
    public var currentVcpus: Int
    /// `<vcpus>`: each vCPU's state, when the definition gives them (`nil`: the first
    /// `currentVcpus` start with QEMU, the rest are unplugged).
    public var vcpuStates: [VcpuState]?
    /// How many vCPUs QEMU starts with (`-smp`); the other enabled ones are plugged in before
    /// the guest runs.
    public var vcpusAtLaunch: Int { vcpuStates.map { $0.filter(\.startsWithQEMU).count } ?? currentVcpus }
    /// `<vcpu cpuset>`: where vCPUs without a pin of their own (and the emulator) may run.
    public var vcpuCPUSet: CPUSet?
    /// `<cputune>`.
    public var cpuTune: CPUTune
    /// `<memtune>`.
    public var memoryTune: MemoryTune
    /// `<blkiotune>`.
    public var blockIOTune: BlockIOTune
    /// `<numatune>`.
    public var numaTune: NUMATune?
    /// `<memoryBacking>`.
    public var memoryBacking: MemoryBacking

    /// The RAM the guest starts with, in KiB: `<memory>` less its memory devices (QEMU's `-m size`).
    public var initialMemoryKiB: UInt64 {
        let devices = devices.memoryDevices.reduce(UInt64(0)) { $0 &+ $1.sizeKiB }
        return memoryKiB > devices ? memoryKiB - devices : 0
    }

    /// Whether memory devices can be plugged in: `<maxMemory>` with its slots.
    public var hasMemoryHotplug: Bool { (maxMemoryKiB ?? 0) > 0 && (memorySlots ?? 0) > 0 }

    /// Whether the definition asks for anything the guest's control group carries out.
    public var usesControlGroup: Bool {
        cpuTune.usesCPUController || !memoryTune.isEmpty || blockIOTune.weight != nil || numaTune?.nodeset != nil
    }
    /// `<resource><partition>`: the control group partition libvirt would place the guest in.
    /// Corral places every guest in its own group under `corral/`; libvirt's default partition
    /// (`/machine`, which libvirtd writes into every QEMU guest) means the same, any other is
    /// refused at start.
    public var resourcePartition: String?
    public var os: OperatingSystem
    /// `<features>`.
    public var features: Features
    /// `<genid>`: the VM generation ID the guest sees (a UUID; written at define when empty).
    public var generationID: String?
    /// `<sysinfo type='smbios'>`.
    public var sysinfo: Sysinfo?
    /// `<iothreads>` and `<iothreadids>`: the ids of the domain's I/O threads (`iothreadN`).
    public var ioThreadIDs: [Int] = []
    /// The worker pools of the I/O threads that set one (`<iothread thread_pool_min/max>`).
    public var ioThreadPools: [Int: ThreadPoolSize] = [:]
    /// `<defaultiothread>`: the pool of QEMU's main loop.
    public var mainLoopThreadPool: ThreadPoolSize?
    public var cpu: CPU?
    /// `<clock>`: where the guest's real-time clock starts.
    public var clock: ClockStart
    /// `<clock offset>`.
    public var clockOffset: ClockOffset { clock.offset }
    /// `<clock><timer>`s.
    public var timers: [Timer]
    public var onPoweroff: LifecycleAction
    public var onReboot: LifecycleAction
    public var onCrash: LifecycleAction
    /// `<pm>`.
    public var powerManagement: PowerManagement?
    /// `<perf>`: the host counters kept for the guest's QEMU process.
    public var perf: PerfEvents
    /// `<seclabel>`s: how security drivers confine the guest.
    public var securityLabels: [SecurityLabel] = []
    public var devices: Devices
    public var qemu: QEMUNamespace

    /// The whole of what Corral models, from which ``DomainSchema`` finds the rest.
    static let schema = ElementSchema("domain", attributes: ["type", "id"], children: [
        .text("name"), .text("uuid"), .text("genid"), .text("title"), .text("description"), ElementSchema("metadata"),
        .text("maxMemory", attributes: ["slots", "unit"]), .text("memory", attributes: ["unit"]), .text("currentMemory", attributes: ["unit"]), .text("vcpu", attributes: ["placement", "current", "cpuset"]),
        ElementSchema("vcpus", children: [ElementSchema("vcpu", attributes: ["id", "enabled", "hotpluggable", "order"])]), .text("iothreads"),
        ElementSchema("iothreadids", children: [ElementSchema("iothread", attributes: ["id", "thread_pool_min", "thread_pool_max"])]),
        ElementSchema("defaultiothread", attributes: ["thread_pool_min", "thread_pool_max"]), CPUTune.schema, MemoryTune.schema, BlockIOTune.schema, NUMATune.schema, MemoryBacking.schema,
        ElementSchema("resource", children: [.text("partition")]), Sysinfo.schema,
        OperatingSystem.schema, Features.schema, CPU.schema, clockSchema,
        .text("on_poweroff"), .text("on_reboot"), .text("on_crash"), PowerManagement.schema, PerfEvents.schema, Devices.schema,
        SecurityLabel.schema,
    ])

    /// Reads the typed view of a normalised `<domain>` element.
    init(normalized root: XMLElement, qemu: QEMUNamespace) throws(DomainXMLError) {
        func text(_ name: String) -> String? { root.element(named: name)?.text }
        type = try VirtualizationType.attribute("type", of: root, default: .qemu)
        name = text("name") ?? ""
        uuid = text("uuid") ?? ""
        title = text("title")
        description = text("description")
        memoryKiB = UInt64(text("memory") ?? "") ?? 0
        currentMemoryKiB = UInt64(text("currentMemory") ?? "") ?? memoryKiB
        // Checked by the normaliser: both or neither.
        maxMemoryKiB = text("maxMemory").flatMap { UInt64($0) }
        memorySlots = root.element(named: "maxMemory")?[attribute: "slots"].flatMap { Int($0) }
        vcpus = Int(text("vcpu") ?? "") ?? 1
        // Checked by the normaliser (current ≤ maximum, at least 1).
        currentVcpus = root.element(named: "vcpu")?[attribute: "current"].flatMap { Int($0) } ?? vcpus
        if let vcpu = root.element(named: "vcpu"), vcpu[attribute: "cpuset"] != nil { vcpuCPUSet = try CPUTune.cpuset(vcpu) }
        // Checked and completed by the normaliser: one entry per vCPU, in id order.
        if let list = root.element(named: "vcpus")?.elements(named: "vcpu"), list.count == vcpus {
            vcpuStates = list.map { entry in
                VcpuState(
                    enabled: entry[attribute: "enabled"] == "yes", hotpluggable: entry[attribute: "hotpluggable"].map { $0 == "yes" },
                    order: entry[attribute: "order"].flatMap { Int($0) } ?? 0)
            }
        }
        memoryTune = try root.element(named: "memtune").map { tune throws(DomainXMLError) in try MemoryTune(tune) } ?? MemoryTune()
        blockIOTune = try root.element(named: "blkiotune").map { tune throws(DomainXMLError) in try BlockIOTune(tune) } ?? BlockIOTune()
        numaTune = try root.element(named: "numatune").map { tune throws(DomainXMLError) in try NUMATune(tune) }
        memoryBacking = try root.element(named: "memoryBacking").map { backing throws(DomainXMLError) in try MemoryBacking(backing) } ?? MemoryBacking()
        let maximum = vcpus
        let ioThreads = try Self.ioThreads(root)
        cpuTune = try root.element(named: "cputune").map { tune throws(DomainXMLError) in try CPUTune(tune, maximumVcpus: maximum, ioThreads: ioThreads) } ?? CPUTune()
        resourcePartition = root.element(named: "resource")?.element(named: "partition")?.text
        os = try OperatingSystem(root.element(named: "os") ?? XMLElement(name: "os"))
        ioThreadIDs = ioThreads
        (ioThreadPools, mainLoopThreadPool) = try Self.ioThreadPools(root)
        generationID = text("genid")
        sysinfo = try root.element(named: "sysinfo").map { element throws(DomainXMLError) in try Sysinfo(element) }
        if let systemUUID = sysinfo?.systemUUID, DomainNormalizer.canonicalUUID(systemUUID) != uuid {
            throw DomainXMLError(.invalid, line: root.element(named: "sysinfo")?.line, "UUID mismatch between <uuid> and <sysinfo>")
        }
        features = try root.element(named: "features").map { features throws(DomainXMLError) in try Features(features) } ?? Features()
        cpu = try root.element(named: "cpu").map { cpu throws(DomainXMLError) in try CPU(cpu) }
        let clock = root.element(named: "clock")
        self.clock = try ClockStart(clock)
        var timers: [Timer] = []
        for timer in clock?.elements(named: "timer") ?? [] { timers.append(try Timer(timer)) }
        self.timers = timers
        func action(_ name: String, _ fallback: LifecycleAction) -> LifecycleAction {
            // Validated by the normaliser (LifecycleAction.validate).
            text(name).flatMap(LifecycleAction.init(rawValue:)) ?? fallback
        }
        onPoweroff = action("on_poweroff", .destroy)
        onReboot = action("on_reboot", .restart)
        onCrash = action("on_crash", .destroy)
        powerManagement = try root.element(named: "pm").map { pm throws(DomainXMLError) in try PowerManagement(pm) }
        perf = try root.element(named: "perf").map { perf throws(DomainXMLError) in try PerfEvents(perf) } ?? PerfEvents()
        for label in root.elements(named: "seclabel") { securityLabels.append(try SecurityLabel(label)) }
        self.qemu = qemu
        devices = try root.element(named: "devices").map { devices throws(DomainXMLError) in try Devices(devices) } ?? Devices()
    }
}

extension DomainDefinition {
    /// The I/O thread ids as libvirt numbers them: those `<iothreadids>` lists, then the lowest
    /// unused ids up to the `<iothreads>` count; every disk's `iothread` must be one of them.
    public static func ioThreads(_ root: XMLElement) throws(DomainXMLError) -> [Int] {
        var ids: [Int] = []
        for thread in root.element(named: "iothreadids")?.elements(named: "iothread") ?? [] {
            guard let text = thread[attribute: "id"], let id = Int(text), (1...DomainLimits.maximumIOThreads).contains(id) else {
                throw DomainXMLError(.invalid, line: thread.line, "invalid iothread 'id' value '\(thread[attribute: "id"] ?? "")'")
            }
            guard !ids.contains(id) else { throw DomainXMLError(.invalid, line: thread.line, "Duplicate iothread id '\(id)' found") }
            ids.append(id)
        }
        if let element = root.element(named: "iothreads") {
            guard let count = Int(element.text.trimmingWhitespace()), (0...DomainLimits.maximumIOThreads).contains(count) else {
                throw DomainXMLError(.invalid, line: element.line, "invalid iothreads count '\(element.text)'")
            }
            var next = 1
            while ids.count < count {
                while ids.contains(next) { next += 1 }
                ids.append(next)
            }
        }
        for disk in root.element(named: "devices")?.elements(named: "disk") ?? [] {
            guard let text = disk.element(named: "driver")?[attribute: "iothread"], let id = Int(text) else { continue }
            guard ids.contains(id) else { throw DomainXMLError(.invalid, line: disk.line, "Disk iothread '\(id)' not defined in iothreadid") }
        }
        return ids
    }
}

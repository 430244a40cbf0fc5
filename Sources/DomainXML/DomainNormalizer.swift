import XMLTree

/// Fills in what libvirt fills in, converts units, and puts elements in libvirt's order.
enum DomainNormalizer {
    static let topLevelOrder = [
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory", "currentMemory", "blkiotune", "memtune",
        "memoryBacking", "vcpu", "vcpus", "iothreads", "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo", "bootloader", "bootloader_args",
        "os", "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash", "on_lockfailure", "pm", "perf", "devices",
        "seclabel", "keywrap", "launchSecurity",
    ]
    static let deviceOrder = [
        "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial", "parallel", "console", "channel",
        "input", "tpm", "graphics", "sound", "audio", "video", "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon",
        "rng", "panic", "shmem", "memory", "iommu", "vsock", "crypto", "pstore",
    ]

    /// libvirt's order of a `<disk>`'s children.
    static let diskChildOrder = ["driver", "auth", "source", "backingStore", "geometry", "blockio", "target", "iotune", "readonly", "shareable", "transient", "serial", "wwn", "vendor", "product", "encryption", "boot", "alias", "acpi", "address"]

    static func element(_ name: String, _ attributes: [(String, String)] = [], text: String? = nil, children: [XMLElement] = []) -> XMLElement {
        // Built without intermediate arrays: the normaliser makes dozens of elements per define.
        var nodes: [XMLNode] = []
        if text != nil || !children.isEmpty {
            nodes.reserveCapacity(children.count + 1)
            if let text { nodes.append(.text(text)) }
            for child in children { nodes.append(.element(child)) }
        }
        return XMLElement(name: name, attributes: attributes.map { XMLAttribute(name: $0.0, value: $0.1) }, children: nodes)
    }

    static func normalize(_ root: inout XMLElement, options: DomainXMLOptions) throws(DomainXMLError) {
        // <domain type>
        guard let type = root[attribute: "type"] else { throw DomainXMLError(.invalid, line: root.line, "missing domain type attribute") }
        guard type == "kvm" || type == "qemu" else {
            throw DomainXMLError(.unsupported, line: root.line, "Emulator '\(options.defaultEmulator)' does not support virt type '\(type)'")
        }
        root[attribute: "id"] = nil

        // <name>
        guard let nameElement = root.element(named: "name"), !nameElement.text.isEmpty else {
            throw DomainXMLError(.invalid, line: root.line, "missing name information")
        }
        let name = nameElement.text
        if name.contains(where: { $0.isNewline }) || name.trimmingWhitespace() != name {
            throw DomainXMLError(.invalid, line: nameElement.line, "name '\(name)' has leading, trailing or embedded line-break whitespace")
        }
        if let problem = ObjectName.problem(with: name) { throw DomainXMLError(.invalid, line: nameElement.line, problem) }

        // <uuid>
        if let uuidElement = root.element(named: "uuid") {
            guard let canonical = canonicalUUID(uuidElement.text) else {
                throw DomainXMLError(.invalid, line: uuidElement.line, "malformed uuid element")
            }
            set(&root, "uuid", text: canonical)
        } else {
            root.children.append(.element(element("uuid", text: randomUUID(options.random))))
        }

        // <genid>: an empty one gets its ID now, as libvirt gives it.
        if let genid = root.element(named: "genid") {
            let text = genid.text.trimmingWhitespace()
            if text.isEmpty {
                set(&root, "genid", text: randomUUID(options.random))
            } else {
                guard let canonical = canonicalUUID(text) else { throw DomainXMLError(.invalid, line: genid.line, "malformed genid element") }
                set(&root, "genid", text: canonical)
            }
        }

        // <devices><memory>: sizes the domain's memory includes.
        let memoryDevicesKiB = try normalizeMemoryDevices(&root)
        // <cpu><numa>: the cells' memory is the domain's.
        try normalizeNUMA(&root)

        // <memory>, <currentMemory>
        guard let memoryElement = root.element(named: "memory") else {
            throw DomainXMLError(.invalid, line: root.line, "Memory size must be specified via <memory> or in the <numa> configuration")
        }
        let given = try kibibytes(memoryElement)
        guard given > 0 else { throw DomainXMLError(.invalid, line: memoryElement.line, "Memory size must be greater than zero") }
        let memory = try totalMemory(root, memory: given, devicesKiB: memoryDevicesKiB, line: memoryElement.line)
        guard memory > memoryDevicesKiB else {
            throw DomainXMLError(.invalid, line: memoryElement.line, "Memory size must be specified via <memory> or in the <numa> configuration")
        }
        var current = try root.element(named: "currentMemory").map { e throws(DomainXMLError) in try kibibytes(e) } ?? memory
        if current == 0 || current > memory { current = memory }
        try normalizeMaxMemory(&root, total: memory)
        setMemory(&root, "memory", memory)
        setMemory(&root, "currentMemory", current)

        // <vcpu>
        if let vcpu = root.element(named: "vcpu") {
            guard let count = Int(vcpu.text.trimmingWhitespace()), count > 0 else {
                throw DomainXMLError(.invalid, line: vcpu.line, "maximum vcpus count must be an integer greater than zero")
            }
            guard count <= DomainLimits.maximumVCPUs else {
                throw DomainXMLError(.invalid, line: vcpu.line, "maximum vcpus count \(count) is more than \(DomainLimits.maximumVCPUs)")
            }
            if let text = vcpu[attribute: "current"] {
                guard let current = Int(text.trimmingWhitespace()), current > 0 else {
                    throw DomainXMLError(.invalid, line: vcpu.line, "Invalid value for attribute 'current' in element 'vcpu': '\(text)'.")
                }
                guard current <= count else {
                    throw DomainXMLError(.unsupported, line: vcpu.line, "maximum vCPU count must not be less than current vCPU count")
                }
            }
            update(&root, "vcpu") { e in
                e.setText(String(count))
                // libvirt writes `current` only when some vCPUs start unplugged.
                if let current = e[attribute: "current"].flatMap({ Int($0.trimmingWhitespace()) }) {
                    e[attribute: "current"] = current == count ? nil : String(current)
                }
                if e[attribute: "placement"] == nil { e.attributes.insert(XMLAttribute(name: "placement", value: "static"), at: 0) }
                orderAttributes(&e, ["placement", "cpuset", "current"])
            }
        } else {
            root.children.append(.element(element("vcpu", [("placement", "static")], text: "1")))
        }
        try normalizeIndividualVcpus(&root)

        try normalizeTunes(&root)
        normalizeIOThreadIDs(&root)
        try normalizeFeatures(&root)
        try normalizeOS(&root, options: options)
        normalizeCPU(&root, options: options)
        try normalizeClock(&root)
        for (event, value) in [(LifecycleAction.Event.poweroff, "destroy"), (.reboot, "restart"), (.crash, "destroy")] {
            if let given = root.element(named: event.rawValue) {
                try LifecycleAction.validate(given.text.trimmingWhitespace(), for: event, line: given.line)
            } else {
                root.children.append(.element(element(event.rawValue, text: value)))
            }
        }
        // <perf>: events in libvirt's order; none named, no element.
        if let perf = root.element(named: "perf") {
            let events = try DomainDefinition.PerfEvents(perf)
            if let element = events.element { update(&root, "perf") { $0 = element } } else { root.children.removeAll { if case .element(let e) = $0 { e.name == "perf" && e.namespace == nil } else { false } } }
        }
        try normalizeDevices(&root, options: options)
        try normalizeSecurityLabels(&root, options: options)

        try DomainNumberChecks.check(root)
        root.children = ordered(root.children, by: topLevelOrder)
        update(&root, "devices") { $0.children = ordered($0.children, by: deviceOrder) }
    }

    /// `<memtune>` limits in KiB, and `<cputune>`'s children in libvirt's order.
    static func normalizeTunes(_ root: inout XMLElement) throws(DomainXMLError) {
        var failure: DomainXMLError?
        // <numatune>: <memory> first, then each <memnode> by cell id with its mode written
        // (libvirt's virDomainNumatuneFormatXML).
        update(&root, "numatune") { tune in
            guard tune.element(named: "memnode") != nil else { return }
            var memnodes: [(cell: UInt32, node: XMLElement)] = [], others: [XMLNode] = []
            for node in tune.children {
                guard case .element(var memnode) = node, memnode.name == "memnode", memnode.namespace == nil else { others.append(node); continue }
                if memnode[attribute: "mode"] == nil { memnode[attribute: "mode"] = "strict" }
                orderAttributes(&memnode, ["cellid", "mode", "nodeset"])
                memnodes.append((memnode[attribute: "cellid"].flatMap { AttributeValues.libvirtUInt32($0) } ?? UInt32.max, memnode))
            }
            tune.children = others + memnodes.sorted { $0.cell < $1.cell }.map { .element($0.node) }
        }
        update(&root, "memtune") { tune in
            tune.updateElements { limit in
                guard failure == nil, limit.namespace == nil else { return }
                do throws(DomainXMLError) {
                    let kib = try kibibytes(limit)
                    limit.setText(String(kib))
                    limit.attributes = [XMLAttribute(name: "unit", value: "KiB")]
                } catch {
                    failure = error
                }
            }
            tune.children = ordered(tune.children, by: ["hard_limit", "soft_limit", "min_guarantee", "swap_hard_limit"])
        }
        if let failure { throw failure }
        try normalizeMemoryBacking(&root)
        // Per-thread periods and quotas as libvirt writes them: decimal, none when 0.
        if let tune = root.element(named: "cputune") {
            var values: [String: String?] = [:]
            for (periodName, quotaName) in DomainDefinition.CPUTune.threadBandwidthElements {
                let bandwidth = try DomainDefinition.CPUTune.bandwidth(tune, period: periodName, quota: quotaName)
                // `updateValue`: a nil value is kept (it removes the element), not the key dropped.
                values.updateValue(bandwidth.period.map { String($0) }, forKey: periodName)
                values.updateValue(bandwidth.quota.map { String($0) }, forKey: quotaName)
            }
            update(&root, "cputune") { tune in
                tune.children = tune.children.compactMap { node in
                    guard case .element(var e) = node, e.namespace == nil, let value = values[e.name] else { return node }
                    guard let value else { return nil }
                    e.setText(value)
                    return .element(e)
                }
            }
        }
        update(&root, "cputune") { tune in
            tune.children = ordered(tune.children, by: [
                "shares", "period", "quota", "global_period", "global_quota", "emulator_period", "emulator_quota", "iothread_period",
                "iothread_quota", "vcpupin", "emulatorpin", "iothreadpin",
            ])
        }
        // libvirt keeps pins with what they pin: vCPU pins by vCPU, I/O thread pins in the order
        // of the I/O threads (`<iothreadids>`, else by id).
        let threadOrder = (root.element(named: "iothreadids")?.elements(named: "iothread") ?? []).compactMap { $0[attribute: "id"].flatMap { Int($0) } }
        update(&root, "cputune") { tune in
            func key(_ node: XMLNode) -> Int? {
                guard case .element(let e) = node, e.namespace == nil else { return nil }
                switch e.name {
                case "vcpupin": return e[attribute: "vcpu"].flatMap { Int($0) }
                case "iothreadpin":
                    let id = e[attribute: "iothread"].flatMap { Int($0) } ?? 0
                    return threadOrder.firstIndex(of: id).map { $0 - threadOrder.count } ?? id
                default: return nil
                }
            }
            for name in ["vcpupin", "iothreadpin"] {
                let positions = tune.children.indices.filter { if case .element(let e) = tune.children[$0], e.name == name, e.namespace == nil { true } else { false } }
                let sorted = positions.map { tune.children[$0] }.enumerated().sorted { (key($0.element) ?? 0, $0.offset) < (key($1.element) ?? 0, $1.offset) }.map(\.element)
                for (position, node) in zip(positions, sorted) { tune.children[position] = node }
            }
        }
    }

    /// `<memoryBacking>` as libvirt writes it: its children in libvirt's order, huge page sizes
    /// in KiB, `<allocation>` only with an attribute, and nothing when it holds nothing.
    static func normalizeMemoryBacking(_ root: inout XMLElement) throws(DomainXMLError) {
        var failure: DomainXMLError?
        update(&root, "memoryBacking") { backing in
            backing.updateElements { child in
                guard failure == nil, child.namespace == nil, child.name == "hugepages" else { return }
                child.updateElements { page in
                    guard failure == nil, page.name == "page", page.namespace == nil else { return }
                    guard let size = page[attribute: "size"] else {
                        failure = DomainXMLError(.invalid, line: page.line, "missing element or attribute './@size'")
                        return
                    }
                    var sized = XMLElement(name: "size", line: page.line)
                    sized.setText(size)
                    if let unit = page[attribute: "unit"] { sized.attributes = [XMLAttribute(name: "unit", value: unit)] }
                    do throws(DomainXMLError) {
                        let kib = try kibibytes(sized)
                        guard kib > 0 else { throw DomainXMLError(.invalid, line: page.line, "hugepage size can't be zero") }
                        let rest = page.attributes.filter { $0.name != "size" && $0.name != "unit" }
                        page.attributes = [XMLAttribute(name: "size", value: String(kib)), XMLAttribute(name: "unit", value: "KiB")] + rest
                    } catch {
                        failure = error
                    }
                }
            }
            backing.children = ordered(backing.children, by: ["hugepages", "nosharepages", "locked", "source", "access", "allocation", "discard"])
            backing.children.removeAll { node in
                if case .element(let e) = node, e.name == "allocation", e.namespace == nil, e.attributes.isEmpty { true } else { false }
            }
        }
        if let failure { throw failure }
        root.children.removeAll { node in
            if case .element(let e) = node, e.name == "memoryBacking", e.namespace == nil, e.elements.isEmpty, e.attributes.isEmpty { true } else { false }
        }
    }

    static func normalizeOS(_ root: inout XMLElement, options: DomainXMLOptions) throws(DomainXMLError) {
        guard let os = root.element(named: "os"), let type = os.element(named: "type") else {
            throw DomainXMLError(.invalid, line: root.line, "an os <type> must be specified")
        }
        guard type.text == "hvm" else {
            throw DomainXMLError(.unsupported, line: type.line, "os type '\(type.text)' is not supported by this emulator (only 'hvm')")
        }
        let arch = type[attribute: "arch"] ?? "x86_64"
        guard DomainXMLOptions.architectures.contains(arch) else { throw DomainXMLError(.unsupported, line: type.line, "No guest options available for arch '\(arch)'") }
        var machine: String?
        if arch == "x86_64" {
            machine = type[attribute: "machine"] ?? options.defaultMachine
            if let given = machine, let canonical = options.machineAliases[given] { machine = canonical }
        } else {
            // A 32-bit guest: its own emulator's machines, unless it names another emulator.
            let defaults = options.defaults(arch: arch, emulator: root.element(named: "devices")?.element(named: "emulator")?.text)
            machine = type[attribute: "machine"] ?? defaults.defaultMachine
            if let given = machine, let canonical = defaults.machineAliases[given] { machine = canonical }
        }
        let hasDeviceBoot = root.element(named: "devices")?.elements.contains { $0.element(named: "boot") != nil } ?? false
        update(&root, "os") { os in
            os.updateElements { e in
                guard e.name == "type", e.namespace == nil else { return }
                var attributes = [XMLAttribute(name: "arch", value: arch)]
                if let machine { attributes.append(XMLAttribute(name: "machine", value: machine)) }
                e.attributes = attributes + e.attributes.filter { $0.name != "arch" && $0.name != "machine" }
            }
            if os.element(named: "boot") == nil && !hasDeviceBoot {
                os.children.append(.element(element("boot", [("dev", "hd")])))
            }
            os.updateElements { if $0.name == "bios" && $0.namespace == nil { orderAttributes(&$0, ["useserial", "rebootTimeout"]) } }
            os.updateElements { if $0.name == "loader" && $0.namespace == nil { orderAttributes(&$0, ["readonly", "secure", "type", "stateless"]) } }
            os.updateElements { if $0.name == "nvram" && $0.namespace == nil { orderAttributes(&$0, ["template", "type"]) } }
            // The SLIC table's path as libvirt writes it.
            os.updateElements { acpi in
                guard acpi.name == "acpi", acpi.namespace == nil else { return }
                acpi.updateElements { if $0.name == "table" && $0.namespace == nil { $0.setText(DomainDefinition.OperatingSystem.sanitizedPath($0.text)) } }
            }
            os.children = ordered(os.children, by: ["type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "dtb", "root", "acpi", "boot", "bootmenu", "bios", "smbios"])
        }
    }

    static func normalizeDevices(_ root: inout XMLElement, options: DomainXMLOptions) throws(DomainXMLError) {
        if root.element(named: "devices") == nil { root.children.append(.element(element("devices"))) }
        let machine = root.element(named: "os")?.element(named: "type")?[attribute: "machine"] ?? ""
        let arch = root.element(named: "os")?.element(named: "type")?[attribute: "arch"] ?? "x86_64"
        let defaultEmulator = arch == "x86_64" ? options.defaultEmulator : options.defaults(arch: arch, emulator: nil).emulator
        var failure: DomainXMLError?
        update(&root, "devices") { devices in
            if devices.element(named: "emulator") == nil { devices.children.insert(.element(element("emulator", text: defaultEmulator)), at: 0) }
            // Before the buses are filled in: libvirt sorts disks as it reads them, by the buses
            // as written. A running guest's document keeps its order (its devices are numbered).
            if !options.keepsLiveState { orderDisksAsInserted(&devices) }
            do throws(DomainXMLError) {
                try checkSCSIDiskTargets(against: devices)
            } catch {
                failure = error
            }
            devices.updateElements { device in
                guard device.namespace == nil, failure == nil else { return }
                do throws(DomainXMLError) {
                    try normalizeDevice(&device, options: options)
                } catch {
                    failure = error
                }
            }
            // A <redirfilter> without rules is not written (libvirt's rule).
            devices.children.removeAll { node in
                guard case .element(let e) = node, e.name == "redirfilter", e.namespace == nil else { return false }
                return e.elements(named: "usbdev").isEmpty
            }
            do throws(DomainXMLError) {
                if failure == nil { try assignSCSIHostDeviceAddresses(&devices) }
            } catch {
                failure = error
            }
            if !options.keepsControllerOrder && !options.keepsLiveState { orderControllersAsParsed(&devices) }
            assignControllerIndexes(&devices)
            addImplicitControllers(&devices, machine: machine)
            // What is there before the character devices are completed, read now: a copy of
            // the devices kept meanwhile would make each change below copy what it changes.
            var ps2Inputs = Set<String>(), hasBalloon = false
            for case .element(let e) in devices.children {
                if e.name == "memballoon" { hasBalloon = true }
                if e.name == "input", e[attribute: "bus"] == "ps2", let type = e[attribute: "type"] { ps2Inputs.insert(type) }
            }
            do throws(DomainXMLError) {
                try normalizeCharacterDevices(&devices, live: options.keepsLiveState)
            } catch {
                failure = failure ?? error
            }
            for kind in ["mouse", "keyboard"] where !ps2Inputs.contains(kind) {
                devices.children.append(.element(element("input", [("type", kind), ("bus", "ps2")])))
            }
            if !hasBalloon {
                devices.children.append(.element(element("memballoon", [("model", "virtio")])))
            }
            addDefaultAudio(&devices)
            addDefaultVideo(&devices)
            devices.children = ordered(devices.children, by: deviceOrder)
            assignBusAddresses(&devices)
            do throws(DomainXMLError) {
                if failure == nil { try PCIAddressAssignment.assign(&devices, machine: machine) }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    static func normalizeDevice(_ device: inout XMLElement, options: DomainXMLOptions) throws(DomainXMLError) {
        switch device.name {
        case "disk":
            if device[attribute: "type"] == nil { device.attributes.insert(XMLAttribute(name: "type", value: "file"), at: 0) }
            if device[attribute: "device"] == nil { device.attributes.append(XMLAttribute(name: "device", value: "disk")) }
            // libvirt's check, made before a network source is rewritten without the policy.
            if let type = device[attribute: "type"], ["network", "vhostuser", "nvme"].contains(type),
                let policy = device.element(named: "source")?[attribute: "startupPolicy"] {
                throw DomainXMLError(.invalid, "disk startupPolicy '\(policy)' is not allowed for disk of '\(type)' type")
            }
            guard let target = device.element(named: "target"), let dev = target[attribute: "dev"], !dev.isEmpty else {
                throw DomainXMLError(.invalid, line: device.line, "missing target information for device \(device.element(named: "source")?[attribute: "file"] ?? "disk")")
            }
            if target[attribute: "bus"] == nil {
                // libvirt's default: a floppy is on the floppy controller, else by the target's prefix.
                let bus = device[attribute: "device"] == "floppy" ? "fdc"
                    : dev.hasPrefix("vd") ? "virtio" : dev.hasPrefix("sd") ? "scsi" : dev.hasPrefix("hd") ? "ide" : "virtio"
                device.updateElements { if $0.name == "target" { $0[attribute: "bus"] = bus } }
            }
            if let driver = device.element(named: "driver") {
                if driver[attribute: "name"] == nil {
                    device.updateElements { if $0.name == "driver" { $0.attributes.insert(XMLAttribute(name: "name", value: "qemu"), at: 0) } }
                }
            } else {
                device.children.insert(.element(element("driver", [("name", "qemu")])), at: 0)
            }
            // One pass over the disk's children: the driver's attributes in libvirt's order, a
            // tray only when open (an open one on a disk is refused later), and the start-up
            // policy after the source's path.
            device.updateElements { child in
                guard child.namespace == nil else { return }
                if child.name == "driver" {
                    orderAttributes(&child, diskDriverAttributeOrder)
                    normalizeMetadataCache(&child)
                } else if child.name == "target" {
                    if child[attribute: "tray"] == "closed" { child[attribute: "tray"] = nil }
                    orderAttributes(&child, ["dev", "bus", "tray", "removable", "rotation_rate"])
                } else if child.name == "source", let policy = child.attributes.firstIndex(where: { $0.name == "startupPolicy" }),
                    policy != child.attributes.count - 1 {
                    child.attributes.append(child.attributes.remove(at: policy))
                }
            }
            // libvirt's post-parse: a vhost-user disk takes no snapshots; its format: a read-only
            // disk's 'no' goes without saying.
            if device[attribute: "type"] == "vhostuser" && device[attribute: "snapshot"] == nil { device[attribute: "snapshot"] = "no" }
            if device[attribute: "snapshot"] == "no" && device.element(named: "readonly") != nil { device[attribute: "snapshot"] = nil }
            orderAttributes(&device, ["type", "device", "model", "rawio", "sgio", "snapshot"])
            if !options.keepsLiveState {
                device.updateElements { if $0.name == "source" && $0.namespace == nil { $0[attribute: "index"] = nil } }
            }
            normalizeBlockGeometry(&device)
            normalizeEncryption(&device)
            let network = device[attribute: "type"] == "network"
            let nvme = device[attribute: "type"] == "nvme"
            var labelFailure: DomainXMLError?
            device.updateElements { source in
                guard source.name == "source", source.namespace == nil else { return }
                normalizeSlices(&source)
                do throws(DomainXMLError) {
                    try normalizeDeviceSecurityLabels(&source, live: options.keepsLiveState)
                } catch {
                    labelFailure = error
                }
                if network {
                    normalizeNetworkDiskSource(&source)
                } else {
                    if nvme { normalizeNVMeDiskSource(&source) }
                    dropNetworkSourceParts(&source)
                    source.children = ordered(source.children, by: localSourceChildOrder)
                }
            }
            if let labelFailure { throw labelFailure }
            try normalizeBackingChain(&device, options: options)
            if device.element(named: "address") == nil, let bus = device.element(named: "target")?[attribute: "bus"], let index = DiskTarget.index(of: dev) {
                // libvirt's drive address from the target's index: IDE 2 units a bus, 2 buses a
                // controller; SATA 6 units a controller; floppy 2 units a controller; SCSI 7.
                let drive: (controller: Int, bus: Int, unit: Int)?
                switch bus {
                case "ide": drive = (index / 4, (index % 4) / 2, index % 2)
                case "sata": drive = (index / 6, 0, index % 6)
                case "fdc": drive = (index / 2, 0, index % 2)
                case "scsi":
                    let address = DomainDefinition.DriveAddress.scsi(targetIndex: index)
                    drive = (address.controller, 0, address.unit)
                default: drive = nil
                }
                if let drive {
                    device.children.append(.element(element("address", [
                        ("type", "drive"), ("controller", String(drive.controller)), ("bus", String(drive.bus)), ("target", "0"), ("unit", String(drive.unit)),
                    ])))
                }
            }
            // libvirt's default format for every disk but a storage volume: raw (it never probes).
            if device[attribute: "type"] != "volume" {
                device.updateElements { driver in
                    guard driver.name == "driver", driver.namespace == nil, driver[attribute: "type"] == nil else { return }
                    driver[attribute: "type"] = "raw"
                    orderAttributes(&driver, ["name", "type"])
                }
            }
            if device[attribute: "device"] == "cdrom" && device.element(named: "readonly") == nil {
                device.children.append(.element(element("readonly")))
            }
            // libvirt writes `shareBacking` only when it is `yes`.
            device.updateElements { if $0.name == "transient", $0.namespace == nil, $0[attribute: "shareBacking"] == "no" { $0[attribute: "shareBacking"] = nil } }
            device.children = ordered(device.children, by: diskChildOrder)
        case "audio":
            // libvirt's form, rebuilt from what it reads (what does not belong to the backend
            // goes, as in libvirt); one it refuses stays for the model to refuse with its line.
            if let audio = try? DomainDefinition.Audio(device) {
                var rendered = audio.element
                rendered.line = device.line
                device = rendered
            }
        case "lease":
            // libvirt's form: lockspace, key, target with its offset when not zero.
            device.updateElements { target in
                guard target.name == "target", target.namespace == nil else { return }
                if let offset = target[attribute: "offset"].flatMap(AttributeValues.libvirtUInt64) { target[attribute: "offset"] = offset == 0 ? nil : String(offset) }
                orderAttributes(&target, ["path", "offset"])
            }
            device.children = ordered(device.children, by: ["lockspace", "key", "target"])
        case "interface":
            if device.element(named: "mac") == nil {
                device.children.insert(.element(element("mac", [("address", randomMAC(options.random))])), at: 0)
            }
            if !options.keepsLiveState {
                // What only a running guest has: the port and bridge of a `network` interface, and
                // a tap the daemon named (libvirt drops `vnet*` and `macvtap*` names, which it makes).
                if device[attribute: "type"] == "network" {
                    device.updateElements { source in
                        guard source.name == "source", source.namespace == nil else { return }
                        source[attribute: "portid"] = nil
                        source[attribute: "bridge"] = nil
                    }
                }
                device.children.removeAll { node in
                    guard case .element(let target) = node, target.name == "target", target.namespace == nil, let dev = target[attribute: "dev"] else { return false }
                    return dev.hasPrefix("vnet") || dev.hasPrefix("macvtap") || dev.hasPrefix("macvlan")
                }
            }
            device.updateElements { if $0.name == "ip" && $0.namespace == nil { orderAttributes(&$0, ["address", "family", "prefix", "peer"]) } }
            if device[attribute: "type"] == "direct" {
                // libvirt writes a macvtap's mode, `vepa` when none is given, after the device.
                device.updateElements { source in
                    guard source.name == "source", source.namespace == nil else { return }
                    if source[attribute: "mode"] == nil { source[attribute: "mode"] = DomainDefinition.Interface.DirectMode.vepa.rawValue }
                    orderAttributes(&source, ["dev", "mode"])
                }
            }
            if let type = device[attribute: "type"], ["server", "client", "mcast", "udp"].contains(type) {
                // libvirt keeps a socket's address and port (a number as it reads one), and for
                // `udp` the <local> end.
                func socketEnd(_ end: inout XMLElement) {
                    end.attributes.removeAll { $0.namespace == nil && $0.name != "address" && $0.name != "port" }
                    if let port = end[attribute: "port"].flatMap({ Int32($0) }) { end[attribute: "port"] = String(port) }
                    orderAttributes(&end, ["address", "port"])
                }
                device.updateElements { source in
                    guard source.name == "source", source.namespace == nil else { return }
                    socketEnd(&source)
                    source.children = source.children.compactMap { node in
                        guard case .element(var local) = node, local.namespace == nil else { return nil }
                        guard type == "udp", local.name == "local" else { return nil }
                        socketEnd(&local)
                        return .element(local)
                    }
                }
            }
            if device[attribute: "type"] == "vhostuser" {
                // libvirt's vhost-user source: type, path, mode, then its <reconnect> (a
                // timeout only when enabled).
                device.updateElements { source in
                    guard source.name == "source", source.namespace == nil else { return }
                    orderAttributes(&source, ["type", "path", "mode"])
                    source.updateElements { reconnect in
                        guard reconnect.name == "reconnect", reconnect.namespace == nil else { return }
                        if reconnect[attribute: "enabled"] != "yes" { reconnect[attribute: "timeout"] = nil }
                        orderAttributes(&reconnect, ["enabled", "timeout"])
                    }
                    source.children.removeAll { if case .element(let e) = $0, e.name == "reconnect", e[attribute: "enabled"] == nil { true } else { false } }
                }
            }
            // Corral's default model, written out (libvirt 9.0's is rtl8139): see docs/decisions.md.
            if device.element(named: "model") == nil && device[attribute: "type"] != "hostdev" {
                device.children.append(.element(element("model", [("type", "virtio")])))
            }
            normalizeInterfaceDriver(&device)
            // libvirt writes <coalesce> only with a number of frames.
            device.children.removeAll { node in
                guard case .element(let e) = node, e.name == "coalesce", e.namespace == nil else { return false }
                let max = e.element(named: "rx")?.element(named: "frames")?[attribute: "max"]
                return max == nil || UInt64(max ?? "") == 0
            }
            // The guest's addresses as libvirt writes them (inet_ntop's form, the family said).
            var addressFailure: DomainXMLError?
            device.children = device.children.map { node in
                guard case .element(let ip) = node, ip.name == "ip", ip.namespace == nil else { return node }
                do throws(DomainXMLError) {
                    return .element(try DomainDefinition.GuestIPAddress(ip).element)
                } catch {
                    addressFailure = addressFailure ?? error
                    return node
                }
            }
            if let addressFailure { throw addressFailure }
            device.children = ordered(device.children, by: ["mac", "source", "bandwidth", "ip", "route", "script", "downscript", "target", "guest", "model", "driver", "backend", "filterref", "tune", "link", "mtu", "coalesce", "boot", "rom", "alias", "acpi", "address"])
        case "graphics":
            // A VNC server's `socket` attribute without a listen element: libvirt's socket listen.
            if device[attribute: "type"] == "vnc", device.element(named: "listen") == nil, let socket = device[attribute: "socket"] {
                device.children.insert(.element(element("listen", [("type", "socket"), ("socket", socket)])), at: 0)
            }
            let firstListen = device.element(named: "listen")?[attribute: "type"]
            if device[attribute: "type"] == "vnc", firstListen == "socket" || firstListen == "none" {
                // A VNC server on a socket, or on none, has no port (libvirt writes the socket).
                if firstListen == "socket", let socket = device.element(named: "listen")?[attribute: "socket"] { device[attribute: "socket"] = socket }
            } else if device[attribute: "type"] == "vnc" && (device[attribute: "port"] == nil || device[attribute: "port"] == "-1") {
                device[attribute: "port"] = "-1"
                device[attribute: "autoport"] = "yes"
            }
            if device[attribute: "type"] == "spice" { normalizeSPICEPorts(&device) }
            // An SDL display's full screen is written only when on (libvirt's bool).
            if device[attribute: "type"] == "sdl", device[attribute: "fullscreen"] == "no" { device[attribute: "fullscreen"] = nil }
            normalizePasswordAttributes(&device)
            if ["vnc", "spice"].contains(device[attribute: "type"]), device.element(named: "listen") == nil {
                // The listen address as an element (libvirt writes one, empty when the default).
                let listen = element("listen", [("type", "address")] + (device[attribute: "listen"].map { [("address", $0)] } ?? []))
                device.children.insert(.element(listen), at: 0)
            }
            // …and the first listen address as the `listen` attribute, for older clients.
            if let first = device.element(named: "listen"), (first[attribute: "type"] ?? "address") == "address", let address = first[attribute: "address"] {
                device[attribute: "listen"] = address
            }
            orderAttributes(&device, [
                "type", "display", "xauth", "fullscreen", "socket", "port", "tlsPort", "autoport", "websocket", "listen", "keymap", "sharePolicy", "powerControl", "defaultMode", "passwd",
                "passwdValidTo", "connected",
            ])
            if device[attribute: "type"] == "spice" { normalizeSPICEChannels(&device) }
            normalizeOpenGL(&device)
        case "filesystem":
            // libvirt's defaults, written out: a mount with 9p's passthrough security model.
            if device[attribute: "type"] == nil { device.attributes.insert(XMLAttribute(name: "type", value: "mount"), at: 0) }
            // Modes as libvirt writes them (`%04o`; zero is none); the model reads them again.
            for name in ["fmode", "dmode"] {
                guard let text = device[attribute: name], let mode = UInt32(text, radix: 8), mode <= 0o777 else { continue }
                device[attribute: name] = mode == 0 ? nil : DomainDefinition.Filesystem.modeText(mode)
            }
            let virtiofs = device.element(named: "driver")?[attribute: "type"] == "virtiofs"
            let onSocket = device.element(named: "source")?[attribute: "socket"] != nil
            if device[attribute: "accessmode"] == nil && !onSocket {
                let position = device.attributes.firstIndex { $0.name == "type" }.map { $0 + 1 } ?? 0
                device.attributes.insert(XMLAttribute(name: "accessmode", value: "passthrough"), at: position)
            }
            if !virtiofs {
                // libvirt reads the virtiofsd settings of virtiofs shares only.
                device.children.removeAll { if case .element(let e) = $0 { e.name == "binary" && e.namespace == nil } else { false } }
                device.updateElements { driver in if driver.name == "driver" { driver.attributes.removeAll { $0.name == "queue" } } }
            }
            device.children = ordered(dropEmptyDrivers(device.children), by: ["driver", "binary", "source", "target", "readonly", "boot", "alias", "address"])
            device.updateElements { if $0.name == "driver" && $0.namespace == nil { orderAttributes(&$0, DomainDefinition.Filesystem.driverAttributes) } }
            if device[attribute: "fmode"] != nil || device[attribute: "dmode"] != nil {
                orderAttributes(&device, ["type", "accessmode", "model", "multidevs", "fmode", "dmode"])
            }
        case "vsock":
            // libvirt's defaults, written out: the virtio model, and an automatic context ID
            // unless one is given.
            if device[attribute: "model"] == nil { device[attribute: "model"] = "virtio" }
            if device.element(named: "cid") == nil { device.children.insert(.element(element("cid", [("auto", "yes")])), at: 0) }
            device.updateElements { cid in
                guard cid.name == "cid", cid.namespace == nil else { return }
                if cid[attribute: "auto"] == nil { cid[attribute: "auto"] = cid[attribute: "address"] == nil ? "yes" : "no" }
                orderAttributes(&cid, ["auto", "address"])
            }
            device.children = ordered(dropEmptyDrivers(device.children), by: ["cid", "alias", "address", "driver"])
        case "hostdev" where device[attribute: "type"] == "scsi":
            normalizeSCSIHostDevice(&device)
        case "hostdev":
            // libvirt writes `managed` of every subsystem device, 'no' unless said.
            if (device[attribute: "mode"] ?? "subsystem") == "subsystem" && device[attribute: "managed"] == nil { device[attribute: "managed"] = "no" }
            orderAttributes(&device, ["mode", "type", "managed", "model", "display", "ramfb"])
            let mediated = device[attribute: "type"] == "mdev"
            device.updateElements { source in
                guard source.name == "source", source.namespace == nil else { return }
                orderAttributes(&source, ["startupPolicy", "guestReset"])
                source.children = ordered(source.children, by: ["vendor", "product", "address"])
                // A mediated device's UUID as libvirt writes it (lower case, dashed).
                if mediated {
                    source.updateElements { address in
                        guard address.name == "address", let uuid = address[attribute: "uuid"].flatMap(canonicalUUID) else { return }
                        address[attribute: "uuid"] = uuid
                    }
                }
            }
            device.children = ordered(device.children, by: ["driver", "source", "boot", "alias", "rom", "acpi", "address"])
        case "tpm":
            // libvirt's choices, written out: TIS on x86, and for an emulator TPM 2.0 with CRB,
            // TPM 1.2 with TIS.
            if device[attribute: "model"] == nil { device[attribute: "model"] = "tpm-tis" }
            let model = device[attribute: "model"]
            device.updateElements { backend in
                guard backend.name == "backend", backend.namespace == nil, backend[attribute: "type"] == "emulator", backend[attribute: "version"] == nil else { return }
                backend[attribute: "version"] = model == "tpm-tis" ? "1.2" : "2.0"
            }
            try normalizePCRBanks(&device)
            try normalizeTPMEncryption(&device)
        case "watchdog":
            if device[attribute: "action"] == nil { device[attribute: "action"] = "reset" }
        case "redirfilter":
            // Each rule as libvirt writes it (ids upper-case hexadecimal, the version JJ.MN).
            var rules: [XMLNode] = []
            for node in device.children {
                guard case .element(let usbdev) = node, usbdev.name == "usbdev", usbdev.namespace == nil else { rules.append(node); continue }
                rules.append(.element(try DomainDefinition.USBRedirectionRule(usbdev).element))
            }
            device.children = rules
        case "video":
            normalizeVideo(&device)
            // libvirt writes the virtio options' <driver> first, and none without attributes.
            device.children = ordered(dropEmptyDrivers(device.children), by: ["driver", "model", "alias", "acpi", "address"])
        case "input":
            // libvirt's default bus on x86: PS/2 for a mouse and a keyboard, virtio for a
            // passthrough device, none for evdev, else USB.
            if device[attribute: "bus"] == nil {
                let bus: String? = switch device[attribute: "type"] {
                case "mouse", "keyboard": "ps2"
                case "passthrough": "virtio"
                case "evdev": nil
                default: "usb"
                }
                if let bus {
                    let position = device.attributes.firstIndex { $0.name == "type" }.map { $0 + 1 } ?? 0
                    device.attributes.insert(XMLAttribute(name: "bus", value: bus), at: position)
                }
            }
            device.updateElements { if $0.name == "source" && $0.namespace == nil { orderAttributes(&$0, ["dev", "evdev", "grab", "grabToggle", "repeat"]) } }
            device.children = ordered(dropEmptyDrivers(device.children), by: ["driver", "source", "alias", "address"])
        case "controller" where device.element(named: "driver") != nil || device.element(named: "pcihole64") != nil:
            try normalizePCIHole64(&device)
            // libvirt writes <driver> after <model>/<target> and before the device's info; unset
            // (zero) numbers are not written, nor is an empty <driver>.
            device.updateElements { driver in
                guard driver.name == "driver", driver.namespace == nil else { return }
                driver.attributes.removeAll { ["queues", "cmd_per_lun", "max_sectors", "iothread"].contains($0.name) && UInt32($0.value) == 0 }
            }
            device.children = ordered(dropEmptyDrivers(device.children), by: ["model", "target", "driver", "alias", "master", "address", "pcihole64"])
            device.updateElements { driver in if driver.name == "driver" && driver.namespace == nil { orderAttributes(&driver, DomainDefinition.ControllerDriver.attributes) } }
        case "panic":
            normalizeISAAddress(&device)
        case "crypto":
            device.children = ordered(dropEmptyDrivers(device.children), by: DomainDefinition.Crypto.childOrder)
        case "pstore":
            // The size in KiB, as libvirt writes memory sizes.
            if let size = device.element(named: "size") {
                let kib = try kibibytes(size)
                device.updateElements { if $0.name == "size" && $0.namespace == nil { $0 = element("size", [("unit", "KiB")], text: String(kib)) } }
            }
            device.children = ordered(device.children, by: DomainDefinition.Pstore.childOrder)
        case "memballoon":
            // libvirt writes the virtio options' <driver> last, and none without attributes.
            device.children = ordered(dropEmptyDrivers(device.children), by: ["stats", "alias", "address", "driver"])
        case "rng":
            // libvirt's checks: exactly one backend, with a known model.
            let backends = device.elements(named: "backend")
            guard backends.count == 1 else { throw DomainXMLError(.invalid, line: device.line, "only one RNG backend is supported") }
            guard let backendModel = backends[0][attribute: "model"] else {
                throw DomainXMLError(.invalid, line: backends[0].line, "missing RNG device backend model")
            }
            guard DomainDefinition.RandomNumberGenerator.Backend(rawValue: backendModel) != nil else {
                throw DomainXMLError(.unsupported, line: backends[0].line, "unknown RNG backend model '\(backendModel)'")
            }
            // <rate> as libvirt writes it: none without a rate, no zero period, decimal numbers.
            if let rate = device.element(named: "rate") {
                let (bytes, period) = try DomainDefinition.RandomNumberGenerator.rate(rate)
                device.children.removeAll { if case .element(let e) = $0 { e.name == "rate" && e.namespace == nil } else { false } }
                if bytes > 0 {
                    device.children.append(.element(element("rate", [("bytes", String(bytes))] + (period > 0 ? [("period", String(period))] : []))))
                }
            }
            device.children = ordered(dropEmptyDrivers(device.children), by: ["rate", "backend", "driver", "alias", "address"])
            device.updateElements { child in
                guard child.namespace == nil else { return }
                // An EGD backend over TCP: libvirt writes the raw protocol.
                if child.name == "backend", child[attribute: "type"] == "tcp", child.element(named: "protocol") == nil {
                    child.children.append(.element(element("protocol", [("type", "raw")])))
                }
            }
        default:
            break
        }
    }

    // MARK: - Helpers

    /// libvirt's order of a disk's `<driver>` attributes (`virDomainDiskDefFormatDriver`), the
    /// virtio options last.
    static let diskDriverAttributeOrder = [
        "name", "type", "cache", "error_policy", "rerror_policy", "io", "ioeventfd", "event_idx", "copy_on_read", "discard", "iothread",
        "detect_zeroes", "queues", "queue_size",
    ] + DomainDefinition.VirtioOptions.attributes

    /// `children` without `<driver>` elements that have no attributes and no children (libvirt
    /// writes none for a device whose virtio options are all unset); the `<driver>` left has
    /// its virtio options in libvirt's order.
    static func dropEmptyDrivers(_ children: [XMLNode]) -> [XMLNode] {
        children.compactMap { node in
            guard case .element(var e) = node, e.name == "driver", e.namespace == nil else { return node }
            if e.attributes.isEmpty && e.elements.isEmpty { return nil }
            orderAttributes(&e, DomainDefinition.VirtioOptions.attributes)
            return .element(e)
        }
    }

    /// Children sorted by `order` (stable); elements not in it keep their place after the element
    /// they followed. Whitespace-only text is dropped (the writer indents).
    static func ordered(_ children: [XMLNode], by order: [String]) -> [XMLNode] {
        // A linear search: the orders are a few dozen short names, cheaper to scan than to hash
        // into a table on every call.
        func rank(_ name: String) -> Int? { order.firstIndex(of: name).map { $0 * 2 } }
        var last = -1
        // Sort keys and positions only: the nodes are copied once, into the result.
        var keyed: [(key: Double, position: Int)] = []
        keyed.reserveCapacity(children.count)
        var offset = 0.0
        var sorted = true
        for (index, node) in children.enumerated() {
            let key: Double
            switch node {
            case .text(let t) where t.isAllWhitespace:
                sorted = false
                continue
            case .text:
                key = Double(last) + 0.5
            case .element(let e):
                if e.namespace == nil, let r = rank(e.name) {
                    last = r
                    offset = 0
                    key = Double(r)
                } else {
                    offset += 0.001
                    key = Double(last) + 0.5 + offset
                }
            }
            if let previous = keyed.last?.key, previous > key { sorted = false }
            keyed.append((key, index))
        }
        if sorted { return children }
        keyed.sort { ($0.key, $0.position) < ($1.key, $1.position) }
        return keyed.map { children[$0.position] }
    }

    /// Removes `parent`'s child at `position`, and the blank text around it when no other
    /// element is left (so `<driver>` does not keep the indentation of a removed child).
    static func removeChild(at position: Int, of parent: inout XMLElement) {
        parent.children.remove(at: position)
        if parent.children.allSatisfy({ if case .text(let text) = $0 { text.isAllWhitespace } else { false } }) { parent.children = [] }
    }

    static func update(_ root: inout XMLElement, _ name: String, _ body: (inout XMLElement) -> Void) {
        root.updateElements { e in if e.name == name && e.namespace == nil { body(&e) } }
    }

    static func set(_ root: inout XMLElement, _ name: String, text: String) {
        update(&root, name) { $0.setText(text) }
    }

    static func setMemory(_ root: inout XMLElement, _ name: String, _ kib: UInt64) {
        if root.element(named: name) == nil {
            root.children.append(.element(element(name, [("unit", "KiB")], text: String(kib))))
        } else {
            update(&root, name) { e in
                e.attributes = [XMLAttribute(name: "unit", value: "KiB")] + e.attributes.filter { $0.name != "unit" }
                e.setText(String(kib))
            }
        }
    }

    /// libvirt's scaled integers (`virScaleInteger`): bytes, KB/MB/… (powers of 1000) and
    /// k/KiB/M/MiB/… (powers of 1024); the default unit is KiB unless `defaultUnit` says
    /// otherwise. Rounded up to whole KiB.
    static func kibibytes(_ element: XMLElement, defaultUnit: String = "KiB") throws(DomainXMLError) -> UInt64 {
        let bytes = try scaledBytes(element, defaultUnit: defaultUnit)
        let kib = bytes / 1024 + (bytes % 1024 == 0 ? 0 : 1)
        guard kib <= DomainLimits.maximumMemoryKiB else {
            throw DomainXMLError(.invalid, line: element.line, "value too large for <\(element.name)>: at most \(DomainLimits.maximumMemoryKiB) KiB")
        }
        return kib
    }

    /// The bytes of a scaled integer (``kibibytes(_:defaultUnit:)``'s units), not rounded.
    static func scaledBytes(_ element: XMLElement, defaultUnit: String) throws(DomainXMLError) -> UInt64 {
        let text = element.text.trimmingWhitespace()
        guard let value = UInt64(text) else {
            throw DomainXMLError(.invalid, line: element.line, "invalid value '\(text)' for <\(element.name)>: expected a non-negative integer")
        }
        let unit = (element[attribute: "unit"] ?? defaultUnit).lowercased()
        let factor: UInt64
        switch unit {
        case "b", "bytes": factor = 1
        case "kb": factor = 1000
        case "k", "kib": factor = 1024
        case "mb": factor = 1_000_000
        case "m", "mib": factor = 1 << 20
        case "gb": factor = 1_000_000_000
        case "g", "gib": factor = 1 << 30
        case "tb": factor = 1_000_000_000_000
        case "t", "tib": factor = 1 << 40
        case "pb": factor = 1_000_000_000_000_000
        case "p", "pib": factor = 1 << 50
        case "eb": factor = 1_000_000_000_000_000_000
        case "e", "eib": factor = 1 << 60
        default: throw DomainXMLError(.invalid, line: element.line, "unknown suffix '\(element[attribute: "unit"] ?? "")' for <\(element.name)>")
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: factor)
        guard !overflow else { throw DomainXMLError(.invalid, line: element.line, "value too large for <\(element.name)>: more than 2^64 bytes") }
        return bytes
    }

    /// A UUID in libvirt's canonical form (lower-case, dashed 8-4-4-4-12) from text with 32 ASCII
    /// hex digits, dashes anywhere and whitespace around; nil otherwise.
    static func canonicalUUID(_ text: String) -> String? {
        var digits: [UInt8] = []
        digits.reserveCapacity(32)
        for byte in text.trimmingWhitespace().utf8 where byte != UInt8(ascii: "-") {
            let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(lower) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(lower), digits.count < 32 else {
                return nil
            }
            digits.append(lower)
        }
        guard digits.count == 32 else { return nil }
        return dashedUUID(digits)
    }

    static func randomUUID(_ random: RandomSource) -> String {
        var bytes = random.bytes(16)
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = Array("0123456789abcdef".utf8)
        return dashedUUID(bytes.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 0xF)]] })
    }

    /// 32 hex digits as 8-4-4-4-12.
    private static func dashedUUID(_ digits: [UInt8]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, digit) in digits.enumerated() {
            if index == 8 || index == 12 || index == 16 || index == 20 { text.append(UInt8(ascii: "-")) }
            text.append(digit)
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func randomMAC(_ random: RandomSource) -> String {
        let tail = random.bytes(3).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }
        return "52:54:00:" + tail.joined(separator: ":")
    }
}

extension String {
    func trimmingWhitespace() -> String {
        // Most values start and end with an ASCII character that is not whitespace: kept as
        // they are, without a walk over characters.
        if let first = utf8.first, let last = utf8.last, (0x21..<0x80).contains(first), (0x21..<0x80).contains(last) { return self }
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}

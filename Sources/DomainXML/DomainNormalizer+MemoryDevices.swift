import XMLTree

extension DomainNormalizer {
    /// libvirt's order of a memory device's `<source>` and `<target>` children.
    static let memorySourceOrder = ["nodemask", "pagesize", "path", "alignsize", "pmem"]
    static let memoryTargetOrder = ["size", "node", "label", "readonly", "block", "requested", "current"]

    /// `<devices><memory>` as libvirt keeps them: sizes in KiB, children in libvirt's order, and
    /// (when the domain can take memory devices, `<maxMemory slots>`) each DIMM and NVDIMM without
    /// an address in the lowest free slot. Returns the devices' total size in KiB.
    static func normalizeMemoryDevices(_ root: inout XMLElement) throws(DomainXMLError) -> UInt64 {
        var failure: DomainXMLError?
        var total: UInt64 = 0
        var usedSlots: Set<Int> = []
        update(&root, "devices") { devices in
            devices.updateElements { memory in
                guard memory.name == "memory", memory.namespace == nil, failure == nil else { return }
                do throws(DomainXMLError) {
                    try normalizeMemoryDevice(&memory, usedSlots: &usedSlots)
                    let size = UInt64(memory.element(named: "target")?.element(named: "size")?.text ?? "") ?? 0
                    let (sum, overflow) = total.addingReportingOverflow(size)
                    guard !overflow, sum <= DomainLimits.maximumMemoryKiB else {
                        throw DomainXMLError(.invalid, line: memory.line, "the memory devices' total size is too large")
                    }
                    total = sum
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
        let hotplug = root.element(named: "maxMemory").map { ($0[attribute: "slots"].flatMap { Int($0) } ?? 0) > 0 } ?? false
        if hotplug { assignMemorySlots(&root, used: usedSlots) }
        return total
    }

    static func normalizeMemoryDevice(_ memory: inout XMLElement, usedSlots: inout Set<Int>) throws(DomainXMLError) {
        guard let model = memory[attribute: "model"] else {
            throw DomainXMLError(.invalid, line: memory.line, "Missing required attribute 'model' in element 'memory'")
        }
        guard DomainDefinition.MemoryDevice.Model(rawValue: model) != nil else {
            throw DomainXMLError(.invalid, line: memory.line, "Invalid value for attribute 'model' in element 'memory': '\(model)'.")
        }
        guard let target = memory.element(named: "target") else {
            throw DomainXMLError(.invalid, line: memory.line, "missing <target> element for <memory> device")
        }
        if let node = target.element(named: "node") {
            guard let value = Int(node.text.trimmingWhitespace()), value >= 0, value < maximumNUMACells else {
                throw DomainXMLError(.invalid, line: node.line, "invalid value of memory device node")
            }
        }
        guard let size = target.element(named: "size") else {
            throw DomainXMLError(.invalid, line: target.line, "missing element size")
        }
        let sizeKiB = try kibibytes(size)
        guard sizeKiB > 0 else { throw DomainXMLError(.invalid, line: size.line, "Memory size must be greater than zero") }
        var failure: DomainXMLError?
        func scale(_ element: inout XMLElement) {
            guard failure == nil else { return }
            do throws(DomainXMLError) {
                let kib = try kibibytes(element)
                element.attributes = [XMLAttribute(name: "unit", value: "KiB")]
                element.setText(String(kib))
            } catch {
                failure = error
            }
        }
        memory.updateElements { part in
            switch part.name {
            case "source":
                part.updateElements { child in if child.name == "pagesize" || child.name == "alignsize" { scale(&child) } }
                part.children = ordered(part.children, by: memorySourceOrder)
            case "target":
                part.updateElements { child in
                    switch child.name {
                    case "size", "block", "requested", "current": scale(&child)
                    case "label": child.updateElements { labelSize in if labelSize.name == "size" { scale(&labelSize) } }
                    default: break
                    }
                }
                part.children = ordered(part.children, by: memoryTargetOrder)
            default: break
            }
        }
        if let failure { throw failure }
        if model == "nvdimm", let label = memory.element(named: "target")?.element(named: "label")?.element(named: "size") {
            let labelKiB = UInt64(label.text) ?? 0
            if labelKiB > 0 && labelKiB < 128 { throw DomainXMLError(.invalid, line: label.line, "nvdimm label must be at least 128KiB") }
            if labelKiB >= sizeKiB { throw DomainXMLError(.invalid, line: label.line, "label size must be smaller than NVDIMM size") }
        }
        if let address = memory.element(named: "address"), address[attribute: "type"] == "dimm" {
            guard let text = address[attribute: "slot"], let slot = Int(text), slot >= 0, slot < Int(UInt32.max) else {
                throw DomainXMLError(.invalid, line: address.line, "Invalid value for attribute 'slot' in element 'address': '\(address[attribute: "slot"] ?? "")'.")
            }
            if let base = address[attribute: "base"], DeviceCommon.unsigned(base) == nil {
                throw DomainXMLError(.invalid, line: address.line, "Invalid value for attribute 'base' in element 'address': '\(base)'.")
            }
            usedSlots.insert(slot)
        }
        orderAttributes(&memory, ["model", "access", "discard"])
        memory.children = ordered(memory.children, by: ["uuid", "source", "target", "alias", "address"])
    }

    /// Each DIMM and NVDIMM without an address gets the lowest slot no other device has
    /// (libvirt's `qemuDomainAssignMemorySlots`, run at define).
    static func assignMemorySlots(_ root: inout XMLElement, used: Set<Int>) {
        var used = used
        update(&root, "devices") { devices in
            devices.updateElements { memory in
                guard memory.name == "memory", memory.namespace == nil, memory.element(named: "address") == nil,
                    memory[attribute: "model"] == "dimm" || memory[attribute: "model"] == "nvdimm"
                else { return }
                var slot = 0
                while used.contains(slot) { slot += 1 }
                used.insert(slot)
                memory.children.append(.element(element("address", [("type", "dimm"), ("slot", String(slot))])))
            }
        }
    }

    /// `<memory>` with memory devices: with NUMA cells it is the cells' memory plus the
    /// devices'; without, the devices must fit in it (libvirt's `virDomainDefPostParseMemory`).
    static func totalMemory(_ root: XMLElement, memory: UInt64, devicesKiB: UInt64, line: Int) throws(DomainXMLError) -> UInt64 {
        guard root.element(named: "cpu")?.element(named: "numa") != nil else {
            guard devicesKiB <= memory else { throw DomainXMLError(.invalid, line: line, "Total size of memory devices exceeds the total memory size") }
            return memory
        }
        let (sum, overflow) = memory.addingReportingOverflow(devicesKiB)
        guard !overflow, sum <= DomainLimits.maximumMemoryKiB else { throw DomainXMLError(.invalid, line: line, "the guest's memory is too large") }
        return sum
    }

    /// `<maxMemory>` in KiB: it needs its slot count and must hold `<memory>`.
    static func normalizeMaxMemory(_ root: inout XMLElement, total: UInt64) throws(DomainXMLError) {
        guard let maxMemory = root.element(named: "maxMemory") else { return }
        let maximum = try kibibytes(maxMemory)
        guard let slotsText = maxMemory[attribute: "slots"] else {
            throw DomainXMLError(.invalid, line: maxMemory.line, "both maximum memory size and memory slot count must be specified")
        }
        guard let slots = UInt32(slotsText) else {
            throw DomainXMLError(.invalid, line: maxMemory.line, "Invalid value for attribute 'slots' in element 'maxMemory': '\(slotsText)'.")
        }
        guard slots > 0 && maximum > 0 else {
            throw DomainXMLError(.invalid, line: maxMemory.line, "both maximum memory size and memory slot count must be specified")
        }
        guard maximum >= total else {
            throw DomainXMLError(.invalid, line: maxMemory.line, "maximum memory size must be equal or greater than the actual memory size")
        }
        update(&root, "maxMemory") { e in
            e.attributes = [XMLAttribute(name: "slots", value: String(slots)), XMLAttribute(name: "unit", value: "KiB")]
            e.setText(String(maximum))
        }
    }
}

import XMLTree

extension DomainNormalizer {
    /// `<vcpus>`: the state of each vCPU, read as libvirt's `virDomainVcpuParse` does (ids below
    /// the maximum, `enabled` required, unlisted vCPUs disabled), completed as its
    /// `virDomainVcpuDefPostParse` does (hotpluggable unless enabled) and checked as the QEMU driver's
    /// `qemuDomainDefVcpusPostParse` does; it then decides `<vcpu current>` (the enabled count)
    /// and is written out for every vCPU, in id order. Without any `<vcpu>` inside, it goes.
    static func normalizeIndividualVcpus(_ root: inout XMLElement) throws(DomainXMLError) {
        guard let list = root.element(named: "vcpus") else { return }
        let entries = list.elements(named: "vcpu")
        guard !entries.isEmpty else {
            root.children.removeAll { if case .element(let e) = $0, e.name == "vcpus", e.namespace == nil { true } else { false } }
            return
        }
        let maximum = Int(root.element(named: "vcpu")?.text.trimmingWhitespace() ?? "1") ?? 1
        var states = Array(repeating: DomainDefinition.VcpuState(enabled: false), count: maximum)
        for entry in entries {
            let id = try requiredUnsigned("id", of: entry)
            guard id < maximum else { throw DomainXMLError(.invalid, line: entry.line, "vcpu id '\(id)' is out of range of maximum vcpu count") }
            guard let enabled = try yesNo("enabled", of: entry) else {
                throw DomainXMLError(.invalid, line: entry.line, "Missing required attribute 'enabled' in element 'vcpu'")
            }
            states[id] = DomainDefinition.VcpuState(enabled: enabled, hotpluggable: try yesNo("hotpluggable", of: entry), order: try optionalUnsigned("order", of: entry) ?? 0)
        }
        // libvirt's defaults (`virDomainVcpuDefPostParse`): an enabled vCPU is not hotpluggable,
        // a disabled one is; a disabled one that is not hotpluggable could never be plugged in.
        for (id, state) in states.enumerated() {
            if state.hotpluggable == nil { states[id].hotpluggable = !state.enabled }
            if state.hotpluggable == false && !state.enabled {
                throw DomainXMLError(.unsupported, line: list.line, "vcpu '\(id)' is both offline and not hotpluggable")
            }
        }
        try checkVcpuStates(states, line: list.line)
        let enabled = states.filter(\.enabled).count
        update(&root, "vcpu") { vcpu in
            vcpu[attribute: "current"] = enabled == maximum ? nil : String(enabled)
            orderAttributes(&vcpu, ["placement", "cpuset", "current"])
        }
        update(&root, "vcpus") { list in list.children = states.enumerated().map { .element($1.element(id: $0)) } }
    }

    /// The QEMU driver's rules (`qemuDomainDefVcpusPostParse`): vCPU 0 enabled, first and not
    /// hotpluggable; an order on every enabled vCPU or on none; vCPUs that are not hotpluggable
    /// before hotpluggable ones, in ascending order.
    static func checkVcpuStates(_ states: [DomainDefinition.VcpuState], line: Int) throws(DomainXMLError) {
        guard let first = states.first else { return }
        guard first.enabled else { throw DomainXMLError(.unsupported, line: line, "vcpu 0 can't be offline") }
        guard first.hotpluggable != true else { throw DomainXMLError(.unsupported, line: line, "vcpu0 can't be hotpluggable") }
        guard first.order == 0 || first.order == 1 else { throw DomainXMLError(.unsupported, line: line, "vcpu0 must be enabled first") }
        let ordered = first.order != 0
        var previous = first
        for state in states.dropFirst() {
            if state.enabled && (state.order != 0) != ordered {
                throw DomainXMLError(.unsupported, line: line, "all vcpus must have either set or unset order")
            }
            if state.hotpluggable == false {
                guard previous.hotpluggable != true else {
                    throw DomainXMLError(.unsupported, line: line, "online non-hotpluggable vcpus need to be ordered prior to hotplugable vcpus")
                }
                guard previous.order <= state.order else {
                    throw DomainXMLError(.unsupported, line: line, "online non-hotpluggable vcpus must be ordered in ascending order")
                }
            }
            previous = state
        }
    }

    static func yesNo(_ attribute: String, of element: XMLElement) throws(DomainXMLError) -> Bool? {
        try AttributeValues.yesNo(attribute, of: element)
    }

    static func optionalUnsigned(_ attribute: String, of element: XMLElement) throws(DomainXMLError) -> Int? {
        try AttributeValues.unsigned(attribute, of: element).map { Int($0) }
    }

    static func requiredUnsigned(_ attribute: String, of element: XMLElement) throws(DomainXMLError) -> Int {
        guard let value = try optionalUnsigned(attribute, of: element) else {
            throw DomainXMLError(.invalid, line: element.line, "Missing required attribute '\(attribute)' in element '\(element.name)'")
        }
        return value
    }
}

extension DomainDefinition {
    /// One vCPU of `<vcpus>`: whether it is plugged in at start, whether it can be unplugged
    /// (`nil`: not said) and the order it is plugged in (0: none).
    public struct VcpuState: Hashable, Sendable {
        public var enabled: Bool
        public var hotpluggable: Bool?
        public var order: Int

        public init(enabled: Bool, hotpluggable: Bool? = nil, order: Int = 0) {
            self.enabled = enabled
            self.hotpluggable = hotpluggable
            self.order = order
        }

        /// A vCPU QEMU starts with: enabled and not hotpluggable. An enabled hotpluggable one is
        /// plugged in before the guest runs.
        public var startsWithQEMU: Bool { enabled && hotpluggable != true }

        /// `<vcpu id enabled hotpluggable order>` as libvirt writes it.
        func element(id: Int) -> XMLElement {
            var attributes = [XMLAttribute(name: "id", value: String(id)), XMLAttribute(name: "enabled", value: enabled ? "yes" : "no")]
            if let hotpluggable { attributes.append(XMLAttribute(name: "hotpluggable", value: hotpluggable ? "yes" : "no")) }
            if order != 0 { attributes.append(XMLAttribute(name: "order", value: String(order))) }
            return XMLElement(name: "vcpu", attributes: attributes)
        }
    }
}

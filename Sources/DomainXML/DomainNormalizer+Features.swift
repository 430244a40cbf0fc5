import XMLTree

extension DomainNormalizer {
    /// libvirt's order of `<features>` (its `virDomainFeature` enumeration).
    static let featureOrder = [
        "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "pvspinlock", "capabilities", "pmu", "vmport", "gic", "smm",
        "ioapic", "hpt", "vmcoreinfo", "htm", "nested-hv", "msrs", "ccf-assist", "xen", "cfpc", "sbbc", "ibs", "tcg", "async-teardown",
    ]

    /// `<features>` in libvirt's order, with TCG's translation-block cache in KiB and
    /// `<hyperv>`'s mode written (`custom` unless given, as libvirt writes it).
    static func normalizeFeatures(_ root: inout XMLElement) throws(DomainXMLError) {
        guard let features = root.element(named: "features") else { return }
        var tbCache: UInt64?
        if let cache = features.element(named: "tcg")?.element(named: "tb-cache") { tbCache = try kibibytes(cache) }
        update(&root, "features") { features in
            features.children = ordered(features.children, by: featureOrder)
            features.updateElements { hyperv in
                guard hyperv.name == "hyperv", hyperv.namespace == nil, hyperv[attribute: "mode"] == nil else { return }
                hyperv.attributes.insert(XMLAttribute(name: "mode", value: "custom"), at: 0)
            }
            guard let tbCache else { return }
            features.updateElements { tcg in
                guard tcg.name == "tcg", tcg.namespace == nil else { return }
                tcg.updateElements { cache in
                    guard cache.name == "tb-cache", cache.namespace == nil else { return }
                    cache.attributes = [XMLAttribute(name: "unit", value: "KiB")]
                    cache.setText(String(tbCache))
                }
            }
        }
    }

    /// `<iothreadids>`, when the definition lists some, completed to every I/O thread
    /// `<iothreads>` counts: those listed, then the lowest free ids, as libvirt numbers them
    /// (it writes no list the definition did not start).
    static func normalizeIOThreadIDs(_ root: inout XMLElement) {
        normalizeThreadPools(&root)
        guard root.element(named: "iothreadids") != nil else { return }
        guard let count = root.element(named: "iothreads").flatMap({ Int($0.text.trimmingWhitespace()) }), count > 0, count <= DomainLimits.maximumIOThreads else { return }
        var ids = root.element(named: "iothreadids")?.elements(named: "iothread").compactMap { $0[attribute: "id"].flatMap { Int($0) } } ?? []
        guard ids.count < count else { return }
        var added: [XMLElement] = []
        var next = 1
        while ids.count < count {
            while ids.contains(next) { next += 1 }
            ids.append(next)
            added.append(element("iothread", [("id", String(next))]))
        }
        if root.element(named: "iothreadids") == nil {
            root.children.append(.element(element("iothreadids", children: added)))
        } else {
            update(&root, "iothreadids") { list in list.children += added.map { .element($0) } }
        }
    }

    /// `thread_pool_min`/`max` as libvirt writes them (after `id`, in decimal); a
    /// `<defaultiothread>` that sets neither goes. Values that do not parse are left for the
    /// definition's checks to refuse.
    static func normalizeThreadPools(_ root: inout XMLElement) {
        func canonical(_ element: inout XMLElement) {
            for name in ["thread_pool_min", "thread_pool_max"] {
                if let text = element[attribute: name], let value = Int32(text.trimmingWhitespace()) { element[attribute: name] = String(value) }
            }
            orderAttributes(&element, ["id", "thread_pool_min", "thread_pool_max"])
        }
        if root.element(named: "iothreadids") != nil {
            update(&root, "iothreadids") { list in list.updateElements { if $0.name == "iothread" { canonical(&$0) } } }
        }
        if let main = root.element(named: "defaultiothread") {
            if main[attribute: "thread_pool_min"] == nil && main[attribute: "thread_pool_max"] == nil {
                root.children.removeAll { if case .element(let e) = $0 { e.name == "defaultiothread" && e.namespace == nil } else { false } }
            } else {
                update(&root, "defaultiothread") { canonical(&$0) }
            }
        }
    }
}

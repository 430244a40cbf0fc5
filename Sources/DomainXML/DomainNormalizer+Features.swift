import XMLTree

extension DomainNormalizer {
    /// libvirt's order of `<features>` (its `virDomainFeature` enumeration).
    static let featureOrder = [
        "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "pvspinlock", "capabilities", "pmu", "vmport", "gic", "smm",
        "ioapic", "hpt", "vmcoreinfo", "htm", "nested-hv", "msrs", "ccf-assist", "xen", "cfpc", "sbbc", "ibs", "tcg", "async-teardown",
    ]

    /// `<features>` in libvirt's order, with TCG's translation-block cache in KiB.
    static func normalizeFeatures(_ root: inout XMLElement) throws(DomainXMLError) {
        guard let features = root.element(named: "features") else { return }
        var tbCache: UInt64?
        if let cache = features.element(named: "tcg")?.element(named: "tb-cache") { tbCache = try kibibytes(cache) }
        update(&root, "features") { features in
            features.children = ordered(features.children, by: featureOrder)
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
}

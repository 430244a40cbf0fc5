import XMLTree

extension DomainNormalizer {
    /// `<clock>` as libvirt writes it: a `utc` clock when there is none; a `utc` or `localtime`
    /// clock with a number of seconds in `adjustment` becomes a variable one from that basis;
    /// a variable clock always says its adjustment and basis; the attributes an offset does not
    /// take (and libvirt's status-only `adjustment0`) go.
    static func normalizeClock(_ root: inout XMLElement) throws(DomainXMLError) {
        guard let clock = root.element(named: "clock") else {
            root.children.append(.element(element("clock", [("offset", "utc")])))
            return
        }
        let start = try DomainDefinition.ClockStart(clock)
        let reset = clock[attribute: "adjustment"] == "reset"
        update(&root, "clock") { clock in
            let canonical = start.attributes(reset: reset).map { XMLAttribute(name: $0.0, value: $0.1) }
            let others = clock.attributes.filter { $0.namespace != nil || !DomainDefinition.clockAttributes.contains($0.name) }
            clock.attributes = canonical + others
        }
    }
}

public import XMLTree

/// One device element on its own, as `virsh attach-device`, `detach-device` and `update-device`
/// send it, and the changes these make to a domain's document: a device inserted where libvirt
/// puts it, removed, or replaced. Which existing device a given one names follows libvirt's rules
/// per device kind (``match(_:among:live:)``).
public enum DeviceXML {
    /// The device element names a domain's `<devices>` may hold.
    public static let elementNames = Set(DomainNormalizer.deviceOrder).subtracting(["emulator"])

    /// How a device element names an existing device.
    public enum Match: Hashable, Sendable {
        /// The position among the devices of the same element name.
        case found(Int)
        /// None matches; libvirt's message says which.
        case missing(String)
        /// Several match (interfaces without a MAC address to tell them apart).
        case ambiguous(String)
    }

    /// Parses a device element. Non-user aliases are dropped (libvirt only takes `ua-…` from
    /// clients), and so is a disk's run-time `<source index>`.
    public static func parse(_ xml: String, limits: XMLParseLimits) throws(DomainXMLError) -> XMLElement {
        var element: XMLElement
        do {
            element = try XMLTreeParser.parse(xml, limits: limits)
        } catch {
            throw DomainXMLError(.malformed, line: error.line, error.message)
        }
        guard element.namespace == nil, elementNames.contains(element.name) else {
            throw DomainXMLError(.invalid, line: element.line, "unknown device type '\(element.name)'")
        }
        if let alias = element.element(named: "alias")?[attribute: "name"], !alias.hasPrefix("ua-") {
            element.children.removeAll { if case .element(let e) = $0, e.name == "alias", e.namespace == nil { true } else { false } }
        }
        element.updateElements { if $0.name == "source" && $0.namespace == nil { $0[attribute: "index"] = nil } }
        return element
    }

    /// The devices named `name` in `document`'s `<devices>`, in order.
    public static func devices(named name: String, in document: XMLElement) -> [XMLElement] {
        document.element(named: "devices")?.elements.filter { $0.name == name && $0.namespace == nil } ?? []
    }

    /// The element name and position (among devices of that name) of the device whose
    /// `<alias>` is `alias`.
    public static func position(ofAlias alias: String, in document: XMLElement) -> (name: String, index: Int)? {
        var counters: [String: Int] = [:]
        for device in document.element(named: "devices")?.elements ?? [] where device.namespace == nil {
            let index = counters[device.name, default: 0]
            counters[device.name] = index + 1
            if device.element(named: "alias")?[attribute: "name"] == alias { return (device.name, index) }
        }
        return nil
    }

    /// `document` with `device` after the last device of its name, or where libvirt's order of
    /// device kinds puts it.
    public static func inserting(_ device: XMLElement, into document: XMLElement) -> XMLElement {
        var document = document
        if document.element(named: "devices") == nil { document.children.append(.element(XMLElement(name: "devices"))) }
        let rank = DomainNormalizer.deviceOrder.firstIndex(of: device.name) ?? DomainNormalizer.deviceOrder.count
        document.updateElements { devices in
            guard devices.name == "devices", devices.namespace == nil else { return }
            var position = 0
            for (index, node) in devices.children.enumerated() {
                guard case .element(let e) = node, e.namespace == nil else { continue }
                let existing = DomainNormalizer.deviceOrder.firstIndex(of: e.name) ?? DomainNormalizer.deviceOrder.count
                if existing <= rank { position = index + 1 }
            }
            devices.children.insert(.element(device), at: position)
        }
        return document
    }

    /// `document` without the `index`th device named `name`.
    public static func removing(_ name: String, at index: Int, from document: XMLElement) -> XMLElement {
        editing(name, at: index, in: document) { _ in nil }
    }

    /// `document` with the `index`th device named `name` replaced by `device`.
    public static func replacing(_ name: String, at index: Int, with device: XMLElement, in document: XMLElement) -> XMLElement {
        editing(name, at: index, in: document) { _ in device }
    }

    /// `document` with the `index`th device named `name` changed (or removed when `change`
    /// returns `nil`).
    public static func editing(_ name: String, at index: Int, in document: XMLElement, _ change: (XMLElement) -> XMLElement?) -> XMLElement {
        var document = document
        document.updateElements { devices in
            guard devices.name == "devices", devices.namespace == nil else { return }
            var seen = 0
            for (position, node) in devices.children.enumerated() {
                guard case .element(let e) = node, e.name == name, e.namespace == nil else { continue }
                if seen == index {
                    if let changed = change(e) { devices.children[position] = .element(changed) } else { devices.children.remove(at: position) }
                    return
                }
                seen += 1
            }
        }
        return document
    }

    /// Which of `existing` (devices of `device`'s name) `device` names, by libvirt's rules: a
    /// disk by its target; an interface by MAC address, PCI address and alias (each when given);
    /// a controller by type and index; a watchdog by being the one; a display by its type; a channel by its target
    /// name; a serial port or console by its port; any device by its alias when it has one;
    /// otherwise by being equal apart from its alias and address.
    public static func match(_ device: XMLElement, among existing: [XMLElement], live: Bool) -> Match {
        let alias = device.element(named: "alias")?[attribute: "name"]
        func aliasAgrees(_ e: XMLElement) -> Bool {
            guard let alias, let other = e.element(named: "alias")?[attribute: "name"] else { return true }
            return alias == other
        }
        func unique(_ candidates: [Int], missing: String, ambiguous: String) -> Match {
            switch candidates.count {
            case 0: return .missing(missing)
            case 1: return .found(candidates[0])
            default: return .ambiguous(ambiguous)
            }
        }
        let indices = Array(existing.indices)
        switch device.name {
        case "disk":
            let target = device.element(named: "target")?[attribute: "dev"] ?? ""
            return unique(indices.filter { existing[$0].element(named: "target")?[attribute: "dev"] == target },
                          missing: live ? "disk \(target) not found" : "no target device \(target)", ambiguous: "multiple matching devices found")
        case "interface":
            let mac = device.element(named: "mac")?[attribute: "address"]?.lowercased()
            let address = try? DomainDefinition.PCIAddress(device: device)
            let candidates = indices.filter { index in
                let e = existing[index]
                if let mac, e.element(named: "mac")?[attribute: "address"]?.lowercased() != mac { return false }
                if let address, (try? DomainDefinition.PCIAddress(device: e)) != address { return false }
                return aliasAgrees(e)
            }
            let addressText = address?.description ?? "(<null>)"
            return unique(candidates,
                          missing: "no device found at address '\(addressText)' matching MAC address '\(mac ?? "(<null>)")' and alias '\(alias ?? "(<null>)")'",
                          ambiguous: mac.map { "multiple devices matching MAC address \($0) found" } ?? "multiple matching devices found")
        case "controller":
            let type = device[attribute: "type"] ?? "", number = device[attribute: "index"] ?? "0"
            return unique(indices.filter { existing[$0][attribute: "type"] == type && (existing[$0][attribute: "index"] ?? "0") == number },
                          missing: "controller \(type):\(number) not found", ambiguous: "multiple matching devices found")
        case "watchdog":
            let model = device[attribute: "model"]
            return unique(indices.filter { model == nil || existing[$0][attribute: "model"] == model }.filter { aliasAgrees(existing[$0]) },
                          missing: "domain has no watchdog", ambiguous: "multiple matching devices found")
        case "channel":
            // libvirt's virDomainChrEquals: a guestfwd channel by its forwarded address and
            // port, any other by its target's name; the target's type always.
            let target = device.element(named: "target")
            let keys = target?[attribute: "type"] == "guestfwd" ? ["type", "address", "port"] : ["type", "name"]
            func agrees(_ e: XMLElement) -> Bool {
                let other = e.element(named: "target")
                // (A request without a target type matches any type.)
                return keys.allSatisfy { key in (key == "type" && target?[attribute: key] == nil) || other?[attribute: key] == target?[attribute: key] }
            }
            return unique(indices.filter { agrees(existing[$0]) && aliasAgrees(existing[$0]) },
                          missing: "device not present in domain configuration", ambiguous: "multiple matching devices found")
        case "memory":
            // libvirt's virDomainMemoryFindByDef: the model, and the size, node and slot given.
            let model = device[attribute: "model"] ?? ""
            func size(_ e: XMLElement) -> UInt64? { e.element(named: "target")?.element(named: "size").flatMap { try? DomainNormalizer.kibibytes($0) } }
            func node(_ e: XMLElement) -> String? { e.element(named: "target")?.element(named: "node")?.text.trimmingWhitespace() }
            func slot(_ e: XMLElement) -> String? { e.element(named: "address").flatMap { $0[attribute: "type"] == "dimm" ? $0[attribute: "slot"] : nil } }
            let wantedSize = size(device), wantedNode = node(device), wantedSlot = slot(device)
            let candidates = indices.filter { index in
                let e = existing[index]
                return e[attribute: "model"] == model && (wantedSize == nil || size(e) == wantedSize) && (wantedNode == nil || node(e) == wantedNode)
                    && (wantedSlot == nil || slot(e) == wantedSlot) && aliasAgrees(e)
            }
            return unique(candidates, missing: "model '\(model)' memory device not present in the domain configuration", ambiguous: "multiple matching devices found")
        case "lease":
            // libvirt's virDomainLeaseIndex: the same key in the same lock space.
            let (key, lockspace) = leaseName(device)
            return unique(indices.filter { leaseName(existing[$0]) == (key, lockspace) },
                          missing: "Lease \(key) in lockspace \(lockspace) does not exist", ambiguous: "multiple matching devices found")
        case "graphics":
            // libvirt's qemuDomainFindGraphics: the first display of the type.
            let type = device[attribute: "type"] ?? ""
            let first = indices.first { existing[$0][attribute: "type"] == type }
            return first.map(Match.found) ?? .missing(
                live ? "cannot find existing graphics device to modify of type '\(type)'" : "cannot find existing graphics type '\(type)' device to modify")
        case "serial", "console":
            let port = device.element(named: "target")?[attribute: "port"] ?? "0"
            return unique(indices.filter { (existing[$0].element(named: "target")?[attribute: "port"] ?? "0") == port && aliasAgrees(existing[$0]) },
                          missing: "device not present in domain configuration", ambiguous: "multiple matching devices found")
        default:
            if alias != nil {
                return unique(indices.filter { existing[$0].element(named: "alias") != nil && aliasAgrees(existing[$0]) },
                              missing: "matching \(device.name) device not found", ambiguous: "multiple matching devices found")
            }
            let wanted = comparable(device)
            return unique(indices.filter { comparable(existing[$0]) == wanted },
                          missing: "matching \(device.name) device not found", ambiguous: "multiple matching devices found")
        }
    }

    /// What names a `<lease>`: its key and lock space.
    public static func leaseName(_ lease: XMLElement) -> (key: String, lockspace: String) {
        (lease.element(named: "key")?.text ?? "", lease.element(named: "lockspace")?.text ?? "")
    }

    /// A device without what the daemon adds (alias, address, whitespace), for comparison.
    static func comparable(_ device: XMLElement) -> String {
        var device = device
        device.children = device.children.filter { node in
            switch node {
            case .element(let e): return !(e.namespace == nil && (e.name == "alias" || e.name == "address"))
            case .text(let t): return !t.isAllWhitespace
            }
        }
        return DomainXMLFormatter.format(device)
    }
}

import XMLTree

extension DomainNormalizer {
    /// libvirt's order of a network disk `<source>`'s children.
    static let networkSourceChildOrder = [
        "host", "identity", "snapshot", "config", "initiator", "ssl", "cookies", "readahead", "timeout", "slices", "seclabel", "auth", "encryption", "reservations",
    ]
    /// libvirt's order of the children of a disk `<source>` that is not a network disk's.
    static let localSourceChildOrder = ["address", "slices", "seclabel", "auth", "encryption", "reservations"]

    /// A network disk's `<source>` as libvirt writes it back: each TCP host with its port (the
    /// protocol's default when absent), `transport` only when not TCP, and only what the
    /// protocol takes (`query` and cookies for HTTP(S), `<ssl>` for HTTPS and FTPS, read-ahead
    /// and timeout for the curl protocols, when not zero).
    static func normalizeNetworkDiskSource(_ source: inout XMLElement) {
        let networkProtocol = source[attribute: "protocol"].flatMap(DomainDefinition.Disk.NetworkSource.NetworkProtocol.init(rawValue:))
        let sourceAttributes = DomainDefinition.Disk.NetworkSource.schema.attributes
        source.attributes.removeAll { $0.namespace == nil && !sourceAttributes.contains($0.name) }
        if source[attribute: "name"] == "" { source[attribute: "name"] = nil }
        if networkProtocol?.isHTTP != true { source[attribute: "query"] = nil }
        // An iSCSI target without a LUN names LUN 0 (libvirt's `virDomainPostParseCheckISCSIPath`).
        if networkProtocol == .iscsi, let name = source[attribute: "name"], !name.contains("/") { source[attribute: "name"] = name + "/0" }
        orderAttributes(&source, sourceAttributes)
        source.children = source.children.compactMap { node in
            guard case .element(var child) = node, child.namespace == nil else { return node }
            switch child.name {
            case "host":
                normalizeHost(&child, networkProtocol)
            case "ssl":
                guard networkProtocol == .https || networkProtocol == .ftps, child[attribute: "verify"] != nil else { return nil }
                child.attributes.removeAll { $0.name != "verify" }
            case "cookies":
                guard networkProtocol?.isHTTP == true, !child.elements(named: "cookie").isEmpty else { return nil }
            case "identity":
                // libvirt reads and writes it for NFS only, each part when given.
                guard networkProtocol == .nfs, child[attribute: "user"] != nil || child[attribute: "group"] != nil else { return nil }
                orderAttributes(&child, ["user", "group"])
            case "readahead", "timeout":
                let attribute = child.name == "readahead" ? "size" : "seconds"
                guard networkProtocol?.isCURL == true, let value = child[attribute: attribute].flatMap({ UInt64($0) }), value > 0 else { return nil }
                child.attributes = [XMLAttribute(name: attribute, value: String(value))]
            default:
                break
            }
            return .element(child)
        }
        source.children = ordered(source.children, by: networkSourceChildOrder)
    }

    static func normalizeHost(_ host: inout XMLElement, _ networkProtocol: DomainDefinition.Disk.NetworkSource.NetworkProtocol?) {
        let transport = host[attribute: "transport"] ?? "tcp"
        if transport == "unix" {
            host[attribute: "name"] = nil
            host[attribute: "port"] = nil
        } else if let port = host[attribute: "port"].flatMap({ Int($0) }), port != 0 {
            host[attribute: "port"] = String(port)
        } else if host[attribute: "port"].map({ Int($0) == 0 }) ?? true {
            host[attribute: "port"] = transport == "tcp" ? networkProtocol?.defaultPort.map(String.init) : nil
        }
        if transport == "tcp" { host[attribute: "transport"] = nil }
        orderAttributes(&host, ["name", "port", "transport", "socket"])
    }

    /// What libvirt does not read from the `<source>` of a disk that is not a network disk.
    /// An NVMe disk's `<source>` as libvirt writes it (`virDomainDiskSourceNVMeFormat`): managed
    /// unless said, its attributes in order, the controller's address in canonical hexadecimal
    /// without a type.
    static func normalizeNVMeDiskSource(_ source: inout XMLElement) {
        // libvirt manages the controller unless told not to (its post-parse writes it out).
        if source[attribute: "managed"] == nil { source[attribute: "managed"] = "yes" }
        orderAttributes(&source, ["type", "managed", "namespace"])
        if let namespace = source[attribute: "namespace"].flatMap({ UInt64($0) }) { source[attribute: "namespace"] = String(namespace) }
        source.updateElements { address in
            guard address.name == "address", address.namespace == nil else { return }
            var typed = address
            typed[attribute: "type"] = "pci"
            guard let parsed = try? DomainDefinition.PCIAddress(device: XMLElement(name: "source", children: [.element(typed)])) else { return }
            var canonical = parsed.element
            canonical.attributes.removeAll { $0.name == "type" || $0.name == "multifunction" }
            address.attributes = canonical.attributes
        }
    }

    static func dropNetworkSourceParts(_ source: inout XMLElement) {
        let networkOnly = ["protocol", "name", "query", "tls", "tlsHostname"]
        source.attributes.removeAll { $0.namespace == nil && networkOnly.contains($0.name) }
        let networkChildren: Set = ["host", "snapshot", "config", "initiator", "ssl", "cookies", "readahead", "timeout"]
        source.children.removeAll { node in
            guard case .element(let child) = node else { return false }
            return child.namespace == nil && networkChildren.contains(child.name)
        }
    }
}

extension DomainNormalizer {
    /// `<geometry>` and `<blockio>` as libvirt writes them back: a geometry only when it gives
    /// cylinders, heads and sectors (its `trans` after them), block sizes only when not zero.
    static func normalizeBlockGeometry(_ disk: inout XMLElement) {
        disk.children = disk.children.compactMap { node in
            guard case .element(var child) = node, child.namespace == nil, child.name == "geometry" || child.name == "blockio" else { return node }
            let names = child.name == "geometry" ? ["cyls", "heads", "secs", "trans"] : ["logical_block_size", "physical_block_size"]
            let sizes = names.filter { $0 != "trans" }
            let values = sizes.map { child[attribute: $0].flatMap { UInt32($0) } }
            // A value that does not parse stays, for the model's error.
            if values.contains(where: { $0 == nil }) && sizes.contains(where: { child[attribute: $0] != nil && UInt32(child[attribute: $0]!) == nil }) { return node }
            if child.name == "geometry" {
                guard values.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
            } else {
                for (name, value) in zip(sizes, values) where value == 0 { child[attribute: name] = nil }
                guard sizes.contains(where: { child[attribute: $0] != nil }) else { return nil }
            }
            for (name, value) in zip(sizes, values) { if let value, value > 0 { child[attribute: name] = String(value) } }
            orderAttributes(&child, names)
            return .element(child)
        }
    }
}

extension DomainNormalizer {
    /// `<encryption>` (in the disk or its source) with the engine libvirt fills in: `qemu`.
    static func normalizeEncryption(_ disk: inout XMLElement) {
        func fill(_ element: inout XMLElement) {
            guard element.name == "encryption", element.namespace == nil, element[attribute: "engine"] == nil, element[attribute: "format"] != nil else { return }
            element[attribute: "engine"] = "qemu"
            orderAttributes(&element, ["format", "engine"])
        }
        disk.updateElements { child in
            fill(&child)
            if child.name == "source" && child.namespace == nil { child.updateElements { fill(&$0) } }
        }
    }
}

extension DomainNormalizer {
    /// A described backing chain as libvirt writes it back (`virDomainDiskBackingStoreFormat`):
    /// each layer's `type` (and `index` only in live documents), then `<format>`, `<source>` and
    /// the next layer; a layer without `type` ends the chain and is written empty, whatever it
    /// held. A `<source>` never carries an `index` there, and one that names nothing is left out.
    static func normalizeBackingChain(_ disk: inout XMLElement, options: DomainXMLOptions) throws(DomainXMLError) {
        var failure: DomainXMLError?
        disk.updateElements { layer in
            guard layer.name == "backingStore", layer.namespace == nil else { return }
            guard let type = layer[attribute: "type"] else {
                layer.attributes.removeAll { $0.namespace == nil }
                layer.children = []
                return
            }
            if !options.keepsLiveState { layer[attribute: "index"] = nil }
            orderAttributes(&layer, ["type", "index"])
            layer.children = layer.children.compactMap { node in
                if case .element(var format) = node, format.name == "format", format.namespace == nil {
                    normalizeMetadataCache(&format)
                    return .element(format)
                }
                guard case .element(var source) = node, source.name == "source", source.namespace == nil else { return node }
                source[attribute: "index"] = nil
                normalizeSlices(&source)
                // A layer's own <encryption>, with the engine libvirt fills in.
                normalizeEncryption(&source)
                do throws(DomainXMLError) {
                    try normalizeDeviceSecurityLabels(&source, live: options.keepsLiveState)
                } catch {
                    failure = failure ?? error
                }
                if type == "network" { normalizeNetworkDiskSource(&source) } else { source.children = ordered(source.children, by: localSourceChildOrder) }
                return source.attributes.isEmpty && source.elements.isEmpty ? nil : .element(source)
            }
            do throws(DomainXMLError) {
                try normalizeBackingChain(&layer, options: options)
            } catch {
                failure = failure ?? error
            }
            layer.children = ordered(layer.children, by: ["format", "source", "backingStore"])
        }
        if let failure { throw failure }
    }
}

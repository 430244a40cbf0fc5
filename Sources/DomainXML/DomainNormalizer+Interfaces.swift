import XMLTree

extension DomainNormalizer {
    /// libvirt's order of a NIC `<driver>`'s attributes.
    static let interfaceDriverAttributes = [
        "name", "txmode", "ioeventfd", "event_idx", "queues", "rx_queue_size", "tx_queue_size", "rss", "rss_hash_report", "iommu", "ats", "packed",
        "page_per_vq",
    ]

    /// An interface's `<driver>` and `<mtu>` as libvirt writes them back: the virtio settings
    /// only on a virtio NIC (libvirt reads them for no other), one queue written as none, zero
    /// sizes unset, offloads in libvirt's order, and elements left empty dropped.
    static func normalizeInterfaceDriver(_ interface: inout XMLElement) {
        let model = interface.element(named: "model")?[attribute: "type"] ?? "virtio"
        let virtio = model.hasPrefix("virtio")
        let virtioOnly: Set = ["name", "txmode", "ioeventfd", "event_idx", "queues", "rx_queue_size", "tx_queue_size", "rss", "rss_hash_report"]
        interface.children = interface.children.compactMap { node in
            guard case .element(var child) = node, child.namespace == nil else { return node }
            switch child.name {
            case "driver":
                if !virtio {
                    child.attributes.removeAll { $0.namespace == nil && virtioOnly.contains($0.name) }
                    child.children.removeAll { if case .element(let e) = $0 { e.name == "host" || e.name == "guest" } else { false } }
                }
                for name in ["queues", "rx_queue_size", "tx_queue_size"] {
                    if let value = child[attribute: name].flatMap({ UInt32($0) }) {
                        child[attribute: name] = value == 0 || (name == "queues" && value == 1) ? nil : String(value)
                    }
                }
                orderAttributes(&child, interfaceDriverAttributes)
                child.children = child.children.compactMap { node in
                    guard case .element(var offloads) = node else { return node }
                    let names = offloads.name == "host" ? DomainDefinition.Interface.Driver.hostOffloads : DomainDefinition.Interface.Driver.guestOffloads
                    orderAttributes(&offloads, names)
                    return offloads.attributes.isEmpty && offloads.children.isEmpty ? nil : .element(offloads)
                }
                child.children = ordered(child.children, by: ["host", "guest"])
                let empty = child.attributes.isEmpty && !child.children.contains { if case .element = $0 { true } else { false } }
                return empty ? nil : .element(child)
            case "mtu":
                return child[attribute: "size"].flatMap { UInt32($0) } == 0 ? nil : .element(child)
            case "backend":
                // libvirt's reading (virDomainNetBackendParseXML): both paths sanitised, the
                // vhost-net one kept for a virtio NIC only; an empty element is not written.
                if !virtio { child[attribute: "vhost"] = nil }
                for name in ["tap", "vhost"] { if let path = child[attribute: name] { child[attribute: name] = DomainDefinition.OperatingSystem.sanitizedPath(path) } }
                orderAttributes(&child, ["tap", "vhost"])
                return child.attributes.isEmpty ? nil : .element(child)
            default:
                return node
            }
        }
    }
}

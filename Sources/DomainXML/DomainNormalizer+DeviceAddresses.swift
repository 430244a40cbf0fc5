import XMLTree

extension DomainNormalizer {
    /// libvirt's ports of a USB controller model (`ports` overrides it for xHCI).
    static func usbPorts(of controller: XMLElement) -> Int {
        switch controller[attribute: "model"] ?? "piix3-uhci" {
        case "piix3-uhci", "piix4-uhci", "vt82c686b-uhci": 2
        case "ehci", "ich9-ehci1": 6
        case "pci-ohci": 3
        case "qemu-xhci", "nec-xhci": controller[attribute: "ports"].flatMap { Int($0) } ?? 4
        case "qusb1", "qusb2": controller[attribute: "ports"].flatMap { Int($0) } ?? 8
        default: 0
        }
    }

    /// The addresses libvirt gives devices on the USB and virtio-serial buses: USB hubs, host
    /// devices, disks, smartcard (CCID) controllers, input devices, serial ports, sound cards and
    /// redirected ports take the first free port of the first USB controller, in libvirt's
    /// order (`virDomainUSBDeviceDefForeach`); virtio channels the first free port from 1 of the
    /// virtio-serial controller 0. Given addresses are kept; a device finds no free port is
    /// left to QEMU (libvirt would add a USB hub).
    static func assignBusAddresses(_ devices: inout XMLElement) {
        let controllers = devices.elements(named: "controller").filter { $0.namespace == nil }
        // USB: the controllers of index 0 with ports of their own (companions have none).
        if let usb = controllers.first(where: { $0[attribute: "type"] == "usb" && ($0[attribute: "index"] ?? "0") == "0" && usbPorts(of: $0) > 0 }) {
            // The attribute is range-checked after normalisation: bound it here (a USB hub has at most 255 ports).
            let ports = min(max(usbPorts(of: usb), 0), 255)
            var used = Set<String>()
            for position in devices.children.indices {
                guard case .element(let device) = devices.children[position], device.namespace == nil else { continue }
                if let address = device.element(named: "address"), address[attribute: "type"] == "usb", address[attribute: "bus"] == "0", let port = address[attribute: "port"] {
                    used.insert(port)
                }
            }
            // Kind by kind in this order, each in document order: the devices without an
            // address found in one look at each, then given their ports.
            let kinds = ["hub", "hostdev", "disk", "controller", "input", "serial", "sound", "redirdev"]
            var candidates: [(rank: Int, position: Int)] = []
            for position in devices.children.indices {
                guard case .element(let device) = devices.children[position], device.namespace == nil, let rank = kinds.firstIndex(of: device.name),
                    device.element(named: "address") == nil
                else { continue }
                candidates.append((rank, position))
            }
            for (_, position) in candidates.sorted(by: { ($0.rank, $0.position) < ($1.rank, $1.position) }) {
                guard case .element(var device) = devices.children[position] else { continue }
                let kind = device.name
                if kind == "hub" && device[attribute: "type"] != "usb" { continue }
                if kind == "hostdev" && device[attribute: "type"] != "usb" { continue }
                if kind == "disk" && device.element(named: "target")?[attribute: "bus"] != "usb" { continue }
                if kind == "sound" && device[attribute: "model"] != "usb" { continue }
                if kind == "controller" && device[attribute: "type"] != "ccid" { continue }
                if kind == "serial" && device.element(named: "target")?[attribute: "type"] != "usb-serial" { continue }
                if kind == "input" && device[attribute: "bus"] != "usb" { continue }
                if kind == "redirdev" && (device[attribute: "bus"] ?? "usb") != "usb" { continue }
                guard let port = (1...max(1, ports)).map(String.init).first(where: { !used.contains($0) }), ports > 0 else { continue }
                used.insert(port)
                devices.children[position] = .text("")  // so `device` changes in place
                device.children.append(.element(element("address", [("type", "usb"), ("bus", "0"), ("port", port)])))
                device.children = ordered(device.children, by: kind == "disk" ? diskChildOrder : kind == "hostdev" ? ["driver", "source", "boot", "alias", "rom", "acpi", "address"] : ["source", "target", "boot", "alias", "address"])
                devices.children[position] = .element(device)
            }
        }
        // Smartcards: slot N of CCID controller 0 (added at define).
        var smartcardSlot = 0
        if devices.element(named: "smartcard") != nil {
            devices.updateElements { card in
                guard card.name == "smartcard", card.namespace == nil, card.element(named: "address") == nil else { return }
                card.children.append(.element(element("address", [("type", "ccid"), ("controller", "0"), ("slot", String(smartcardSlot))])))
                smartcardSlot += 1
            }
        }
        // virtio-serial: channels on controller 0, bus 0.
        guard controllers.contains(where: { $0[attribute: "type"] == "virtio-serial" && ($0[attribute: "index"] ?? "0") == "0" }) else { return }
        var usedPorts = Set<Int>()
        for channel in devices.elements(named: "channel") {
            if let address = channel.element(named: "address"), address[attribute: "type"] == "virtio-serial",
                (address[attribute: "controller"] ?? "0") == "0", let port = address[attribute: "port"].flatMap({ Int($0) }) {
                usedPorts.insert(port)
            }
        }
        devices.updateElements { channel in
            guard channel.name == "channel", channel.namespace == nil, channel.element(named: "address") == nil,
                channel.element(named: "target")?[attribute: "type"] == "virtio"
            else { return }
            guard let port = (1...30).first(where: { !usedPorts.contains($0) }) else { return }
            usedPorts.insert(port)
            channel.children.append(.element(element("address", [("type", "virtio-serial"), ("controller", "0"), ("bus", "0"), ("port", String(port))])))
        }
    }

    /// An ISA address as libvirt writes it: `iobase` and `irq` in hexadecimal with `0x`, left
    /// out when 0 (one that does not read is left for the model to refuse in libvirt's words).
    static func normalizeISAAddress(_ device: inout XMLElement) {
        guard let read = try? DomainDefinition.ISAAddress(device: device) else { return }
        device.updateElements { element in
            guard element.name == "address", element.namespace == nil else { return }
            element.attributes.removeAll { $0.name == "iobase" || $0.name == "irq" }
            if read.ioBase != 0 { element.attributes.append(XMLAttribute(name: "iobase", value: "0x" + String(read.ioBase, radix: 16))) }
            if read.irq != 0 { element.attributes.append(XMLAttribute(name: "irq", value: "0x" + String(read.irq, radix: 16))) }
        }
    }
}

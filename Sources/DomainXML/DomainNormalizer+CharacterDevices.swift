import XMLTree

extension DomainNormalizer {
    /// libvirt's limit on ISA serial ports (`VIR_MAX_ISA_SERIAL_PORTS`).
    static let maximumISASerialPorts = 4

    /// Serial ports and consoles as libvirt fills them in: an ISA serial port's target type,
    /// port and model; a console's target port; and libvirt's console compatibility rule — when
    /// the guest has a serial port and its first `<console>` is not the serial console, a
    /// `<console><target type='serial'/>` aliasing serial port 0 is put first, so the guest's
    /// default console (what `virsh console DOM` opens) is its serial port, and the other
    /// consoles are numbered after it (`console1`, …), as libvirt names them.
    static func normalizeCharacterDevices(_ devices: inout XMLElement, live: Bool = false) throws(DomainXMLError) {
        addSerialForConsole(&devices)
        try assignSerialTargets(&devices)
        assignConsolePorts(&devices)
        insertSerialConsole(&devices)
        try normalizeGuestForwards(&devices)
        completeCharacterDevices(&devices)
        try normalizeCharacterDeviceLabels(&devices, live: live)
    }

    /// The `<seclabel>`s of character devices' sources (``normalizeDeviceSecurityLabels(_:live:)``):
    /// libvirt reads them on every device and writes them for the devices whose `<source>`
    /// names a host file or socket (pty, dev, file, pipe, unix).
    static func normalizeCharacterDeviceLabels(_ devices: inout XMLElement, live: Bool) throws(DomainXMLError) {
        var failure: DomainXMLError?
        devices.updateElements { device in
            guard failure == nil, device.namespace == nil, ["serial", "parallel", "console", "channel"].contains(device.name) else { return }
            let writesLabels = ["pty", "dev", "file", "pipe", "unix"].contains(device[attribute: "type"] ?? "pty")
            var first = true
            device.updateElements { source in
                guard source.name == "source", source.namespace == nil, source.element(named: "seclabel") != nil else { return }
                defer { first = false }
                guard first && writesLabels else {
                    source.removeElements { $0.name == "seclabel" && $0.namespace == nil }
                    return
                }
                do throws(DomainXMLError) {
                    try normalizeDeviceSecurityLabels(&source, live: live)
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
    }

    /// What libvirt writes of every character device: a TCP source's `<protocol type='raw'/>`,
    /// a parallel port's `<target port>` (lowest free first), the target's attributes in
    /// libvirt's order, and a unix device's `<source>` only when it names a path (virt-install
    /// writes `<source mode='bind'/>` for the guest agent's channel, whose socket libvirt picks).
    static func completeCharacterDevices(_ devices: inout XMLElement) {
        var usedParallelPorts = Set(devices.elements(named: "parallel").compactMap { $0.element(named: "target")?[attribute: "port"].flatMap { Int($0) } })
        devices.updateElements { device in
            guard device.namespace == nil, ["serial", "parallel", "console", "channel", "redirdev"].contains(device.name) else { return }
            // A serial port's ISA address (and its console's), written as libvirt writes it.
            if device.name == "serial" || device.name == "console" { normalizeISAAddress(&device) }
            if device[attribute: "type"] == "qemu-vdagent" {
                // QEMU's agent's settings in libvirt's order.
                device.updateElements { if $0.name == "source" && $0.namespace == nil { $0.children = ordered($0.children, by: ["clipboard", "mouse"]) } }
            }
            if device[attribute: "type"] == "udp" { normalizeUDPSources(&device) }
            if device[attribute: "type"] == "unix" { device.removeElements { $0.name == "source" && $0.namespace == nil && $0[attribute: "path"] == nil } }
            if device[attribute: "type"] == "tcp" && device.element(named: "protocol") == nil {
                let position = device.children.lastIndex {
                    if case .element(let e) = $0 { return e.name == "source" || e.name == "log" }
                    return false
                }.map { $0 + 1 } ?? 0
                device.children.insert(.element(element("protocol", [("type", "raw")])), at: position)
            }
            if device.name == "parallel" && device.element(named: "target")?[attribute: "port"] == nil {
                var free = 0
                while usedParallelPorts.contains(free) { free += 1 }
                usedParallelPorts.insert(free)
                if device.element(named: "target") == nil {
                    let position = device.children.lastIndex {
                        if case .element(let e) = $0 { return ["source", "log", "protocol"].contains(e.name) }
                        return false
                    }.map { $0 + 1 } ?? 0
                    device.children.insert(.element(element("target", [("port", String(free))])), at: position)
                } else {
                    device.updateElements { if $0.name == "target" && $0.namespace == nil { $0[attribute: "port"] = String(free) } }
                }
            }
            device.updateElements { if $0.name == "target" && $0.namespace == nil { orderAttributes(&$0, ["type", "name", "state", "address", "port"]) } }
        }
    }

    /// A `udp` device's sources as libvirt writes them: the first of each mode (`connect` when
    /// none is given), the bind side first, each with its mode and only when it has a host or
    /// service.
    static func normalizeUDPSources(_ device: inout XMLElement) {
        var bind: XMLElement?, connect: XMLElement?
        for source in device.elements(named: "source").prefix(2) where source.namespace == nil {
            let mode = source[attribute: "mode"] ?? "connect"
            let host = source[attribute: "host"], service = source[attribute: "service"]
            let written = element("source", [("mode", mode)] + (host.map { [("host", $0)] } ?? []) + (service.map { [("service", $0)] } ?? []))
            if mode == "connect", connect == nil { connect = written }
            if mode == "bind", bind == nil { bind = written }
        }
        let kept = [bind, connect].compactMap { $0 }.filter { $0[attribute: "host"] != nil || $0[attribute: "service"] != nil }
        guard let first = device.children.firstIndex(where: { if case .element(let e) = $0 { return e.name == "source" && e.namespace == nil } else { return false } }) else { return }
        device.children.removeAll { if case .element(let e) = $0 { return e.name == "source" && e.namespace == nil } else { return false } }
        device.children.insert(contentsOf: kept.map { .element($0) }, at: min(first, device.children.count))
    }

    /// libvirt's other half of the console compatibility rule: a guest whose first console is a
    /// serial console and that has no serial port gets one, on the console's host side.
    static func addSerialForConsole(_ devices: inout XMLElement) {
        guard !devices.hasElement(named: "serial"), let console = devices.element(named: "console"),
            (console.element(named: "target")?[attribute: "type"] ?? "serial") == "serial"
        else { return }
        var serial = element("serial", [("type", console[attribute: "type"] ?? "pty")])
        serial.children = console.children.filter { node in
            if case .element(let e) = node { return e.namespace == nil && ["source", "log", "protocol"].contains(e.name) }
            return false
        }
        serial.children.append(.element(element("target", [("type", "isa-serial"), ("port", "0")], children: [element("model", [("name", "isa-serial")])])))
        devices.children.append(.element(serial))
    }

    /// Each serial port without a target type is an `isa-serial` (with its model); ports are
    /// taken lowest-free first, as libvirt assigns them; a serial port of another type (PCI,
    /// USB) without a port takes one past the highest any serial port names.
    static func assignSerialTargets(_ devices: inout XMLElement) throws(DomainXMLError) {
        var used = Set<Int>()
        for serial in devices.elements(named: "serial") {
            guard let text = serial.element(named: "target")?[attribute: "port"] else { continue }
            guard let port = Int(text), port >= 0 else {
                throw DomainXMLError(.invalid, line: serial.line, "Invalid port number: \(text)")
            }
            let type = serial.element(named: "target")?[attribute: "type"] ?? "isa-serial"
            if type == "isa-serial" {
                guard port < maximumISASerialPorts else {
                    throw DomainXMLError(.invalid, line: serial.line, "Maximum supported number of ISA serial ports is '\(maximumISASerialPorts)'")
                }
                guard used.insert(port).inserted else {
                    throw DomainXMLError(.invalid, line: serial.line, "target port '\(port)' already allocated")
                }
            }
        }
        var failure: DomainXMLError?
        devices.updateElements { serial in
            guard serial.name == "serial", serial.namespace == nil, failure == nil else { return }
            var target = serial.element(named: "target") ?? element("target")
            let type = target[attribute: "type"] ?? "isa-serial"
            guard type == "isa-serial" else {
                if target[attribute: "port"] == nil, serial.element(named: "target") != nil {
                    let next = (used.max() ?? -1) + 1
                    used.insert(next)
                    serial.updateElements { if $0.name == "target" && $0.namespace == nil { $0[attribute: "port"] = String(next) } }
                }
                return
            }
            target[attribute: "type"] = type
            if target[attribute: "port"] == nil {
                guard let free = (0..<maximumISASerialPorts).first(where: { !used.contains($0) }) else {
                    failure = DomainXMLError(.invalid, line: serial.line, "Maximum supported number of ISA serial ports is '\(maximumISASerialPorts)'")
                    return
                }
                used.insert(free)
                target[attribute: "port"] = String(free)
            }
            if target.element(named: "model") == nil { target.children.append(.element(element("model", [("name", "isa-serial")]))) }
            if serial.element(named: "target") == nil {
                serial.children.append(.element(target))
            } else {
                serial.updateElements { if $0.name == "target" && $0.namespace == nil { $0 = target } }
            }
            serial.children = ordered(serial.children, by: ["source", "log", "protocol", "target", "alias", "address"])
        }
        if let failure { throw failure }
    }

    /// A console without a target port takes one past the highest port any console names
    /// (libvirt numbers each target type's consoles from 0 this way).
    static func assignConsolePorts(_ devices: inout XMLElement) {
        var highest = devices.elements(named: "console").compactMap { $0.element(named: "target")?[attribute: "port"].flatMap { Int($0) } }.max() ?? -1
        devices.updateElements { console in
            guard console.name == "console", console.namespace == nil else { return }
            let isSerial = (console.element(named: "target")?[attribute: "type"] ?? "serial") == "serial"
            if console.element(named: "target") == nil { console.children.append(.element(element("target", [("type", "serial")]))) }
            console.updateElements { target in
                guard target.name == "target", target.namespace == nil else { return }
                if target[attribute: "type"] == nil { target.attributes.insert(XMLAttribute(name: "type", value: "serial"), at: 0) }
                guard target[attribute: "port"] == nil else { return }
                if isSerial {
                    target[attribute: "port"] = "0"
                } else {
                    highest += 1
                    target[attribute: "port"] = String(highest)
                }
            }
        }
    }

    /// libvirt's `virDomainDefAddConsoleCompat`: a serial console first when the guest has an
    /// ISA serial port and no console, or a first console that is not serial.
    static func insertSerialConsole(_ devices: inout XMLElement) {
        guard let serial = devices.element(named: "serial"), serial.element(named: "target")?[attribute: "type"] == "isa-serial" else { return }
        if let first = devices.element(named: "console"),
            first.element(named: "target")?[attribute: "type"] == "serial" {
            return
        }
        var console = element("console", [("type", serial[attribute: "type"] ?? "pty")])
        for child in serial.elements where child.namespace == nil && ["source", "log", "protocol"].contains(child.name) { console.children.append(.element(child)) }
        console.children.append(.element(element("target", [("type", "serial"), ("port", "0")])))
        if let alias = serial.element(named: "alias") { console.children.append(.element(alias)) }
        let position = devices.children.firstIndex {
            if case .element(let e) = $0, e.name == "console", e.namespace == nil { return true }
            return false
        } ?? devices.children.count
        devices.children.insert(.element(console), at: position)
    }
}

import DomainXML
import QEMUCommandLine
import XMLTree

/// What a running guest's XML says beyond its definition, as libvirt's live XML does: each
/// device's `<alias>`, and the pseudo-terminal QEMU gave each `pty` serial port and console
/// (`<source path>`, and `tty` on the console), and the number of each disk's block nodes
/// (`<source index>`).
enum LiveDomainXML {
    /// `document` (a normalised domain) with the aliases and paths of `devices`.
    /// `vncDisplay`: the display an autoport VNC server got (its port is 5900 + it);
    /// `spicePort`: the port an autoport SPICE server got.
    /// `vsockCID`: the context ID the guest's vsock got (written as `<cid address>`).
    /// `vncSocket`: the socket of a VNC server listening on one the daemon chose (libvirt names
    /// it on `<graphics socket>` and `<listen socket>` while the guest runs).
    /// `vncWebsocket`: the port a VNC WebSocket listener asked for with `websocket='-1'` got.
    static func decorate(
        _ document: XMLElement, devices: GuestDevices, vncDisplay: Int? = nil, spicePort: Int? = nil, spiceTLSPort: Int? = nil, vsockCID: UInt32? = nil, vncSocket: String? = nil,
        vncWebsocket: Int? = nil
    ) -> XMLElement {
        var document = document
        var counters: [String: Int] = [:]
        let machine = document.element(named: "os")?.element(named: "type")?[attribute: "machine"]
        document.updateElements { devicesElement in
            guard devicesElement.name == "devices", devicesElement.namespace == nil else { return }
            devicesElement.updateElements { device in
                guard device.namespace == nil else { return }
                let index = counters[device.name, default: 0]
                counters[device.name] = index + 1
                switch device.name {
                case "disk":
                    guard index < devices.disks.count else { return }
                    setAlias(&device, devices.disks[index].alias)
                    // QEMU starts every drive's tray closed, whatever the definition remembers.
                    setTray(&device, open: false)
                    // libvirt's `<source index>`: the number of the disk's block nodes.
                    if devices.disks[index].hasMedium {
                        device.updateElements { if $0.name == "source" && $0.namespace == nil { $0[attribute: "index"] = String(devices.disks[index].nodeIndex) } }
                        appendDetectedLayers(&device, devices.disks[index].detectedLayers, ends: devices.disks[index].endsChain)
                        numberBackingChain(&device, devices.disks[index].backingNodeIndexes[...])
                    }
                case "interface":
                    guard index < devices.interfaces.count else { return }
                    if let connection = devices.interfaces[index].connection { setConnection(&device, connection) }
                    setAlias(&device, devices.interfaces[index].alias)
                case "serial", "console", "channel":
                    let role: GuestDevices.CharacterRole = device.name == "serial" ? .serial : device.name == "console" ? .console : .channel
                    guard let names = devices.characterDevice(role, index: index) else { return }
                    if names.type == .pty, let path = names.path {
                        setSourcePath(&device, path)
                        if role == .console { device[attribute: "tty"] = path }
                    }
                    // A unix channel's socket the daemon chose (libvirt's is under its channel
                    // directory), named as libvirt names it.
                    if role == .channel, names.type == .unix, device.element(named: "source") == nil, let path = names.path {
                        let source = XMLElement(name: "source", attributes: [XMLAttribute(name: "mode", value: "bind"), XMLAttribute(name: "path", value: path)])
                        device.children.insert(.element(source), at: 0)
                    }
                    setAlias(&device, names.alias)
                case "controller":
                    guard device.element(named: "alias") == nil, let type = device[attribute: "type"].flatMap(DomainDefinition.Controller.Kind.init(rawValue:)),
                        let number = device[attribute: "index"].flatMap({ Int($0) })
                    else { return }
                    setAlias(&device, DeviceAliases.controller(type: type, index: number, model: device[attribute: "model"], given: nil, machine: machine))
                case "vsock":
                    if let vsockCID {
                        device.updateElements { if $0.name == "cid" && $0.namespace == nil { $0[attribute: "address"] = String(vsockCID) } }
                    }
                    if device.element(named: "alias") == nil { setAlias(&device, "vsock0") }
                case "memory":
                    // The command line's names: DIMMs by slot, virtio devices by their number.
                    guard let model = device[attribute: "model"].flatMap(DomainDefinition.MemoryDevice.Model.init(rawValue:)) else { return }
                    let number = counters["memory:" + model.rawValue, default: 0]
                    counters["memory:" + model.rawValue] = number + 1
                    guard !hasUserAlias(device), device.element(named: "alias") == nil else { return }
                    let slot = device.element(named: "address").flatMap { $0[attribute: "type"] == "dimm" ? $0[attribute: "slot"].flatMap { Int($0) } : nil }
                    setAlias(&device, model.alias(slot: slot, number: number))
                case "graphics":
                    if device[attribute: "type"] == "vnc", device[attribute: "autoport"] == "yes", let vncDisplay {
                        device[attribute: "port"] = String(5900 + vncDisplay)
                    }
                    if device[attribute: "type"] == "vnc", device[attribute: "websocket"] == "-1", let vncWebsocket {
                        device[attribute: "websocket"] = String(vncWebsocket)
                    }
                    if device[attribute: "type"] == "vnc", let vncSocket, device[attribute: "socket"] == nil,
                        let listen = device.element(named: "listen"), listen[attribute: "type"] == "socket", listen[attribute: "socket"] == nil {
                        setVNCSocket(&device, vncSocket)
                    }
                    if device[attribute: "type"] == "spice", device[attribute: "autoport"] == "yes" || (device[attribute: "port"] ?? "-1") == "-1", let spicePort {
                        // Right after `type`, where libvirt writes it.
                        device[attribute: "port"] = nil
                        device.attributes.insert(XMLAttribute(name: "port", value: String(spicePort)), at: min(1, device.attributes.count))
                    }
                    if device[attribute: "type"] == "spice", device[attribute: "autoport"] == "yes" || device[attribute: "tlsPort"] == "-1", let spiceTLSPort {
                        // After the port, where libvirt writes it.
                        device[attribute: "tlsPort"] = nil
                        let after = device.attributes.firstIndex { $0.name == "port" }.map { $0 + 1 } ?? min(1, device.attributes.count)
                        device.attributes.insert(XMLAttribute(name: "tlsPort", value: String(spiceTLSPort)), at: after)
                    }
                default:
                    // Controllers, inputs, sounds, videos and the rest: the ids the command line gave them.
                    guard device.element(named: "alias") == nil, let aliases = devices.elementAliases[device.name], index < aliases.count,
                        let alias = aliases[index]
                    else { return }
                    setAlias(&device, alias)
                }
            }
        }
        return document
    }

    /// Calls `body` on each `<devices>` child named `name`, with its position among them.
    static func updateDevices(_ document: inout XMLElement, named name: String, _ body: (inout XMLElement, Int) -> Void) {
        var position = 0
        document.updateElements { devices in
            guard devices.name == "devices", devices.namespace == nil else { return }
            devices.updateElements { device in
                guard device.name == name, device.namespace == nil else { return }
                body(&device, position)
                position += 1
            }
        }
    }

    /// A named CPU model runs as asked or not at all: libvirt's live XML (and the migratable
    /// XML a destination starts by) says `fallback='forbid'` on it
    /// (`qemuProcessUpdateGuestCPU`).
    static func forbidCPUFallback(_ document: inout XMLElement) {
        document.updateElements { if $0.name == "cpu" && $0.namespace == nil { $0 = forbiddingFallback($0) } }
    }

    /// `cpu` with ``forbidCPUFallback(_:)``'s rule applied.
    static func forbiddingFallback(_ cpu: XMLElement) -> XMLElement {
        guard (cpu[attribute: "mode"] ?? "custom") == "custom" else { return cpu }
        var cpu = cpu
        cpu.updateElements { if $0.name == "model" && $0.namespace == nil && !$0.text.isEmpty { $0[attribute: "fallback"] = "forbid" } }
        return cpu
    }

    /// Puts `cpu` in place of the document's `<cpu>`.
    static func replaceCPU(_ document: inout XMLElement, with cpu: XMLElement) {
        document.updateElements { if $0.name == "cpu" && $0.namespace == nil { $0 = cpu } }
    }

    /// The virtiofsd a share without `<binary path>` runs, named on it (`<binary path>` after
    /// `<driver>`), as libvirt's live XML names the one it chose. A share served by a daemon the
    /// user runs (`<source socket>`) has none.
    static func nameVirtioFSBinary(_ document: inout XMLElement, _ binary: String) {
        updateDevices(&document, named: "filesystem") { filesystem, _ in
            guard filesystem.element(named: "driver")?[attribute: "type"] == "virtiofs", filesystem.element(named: "binary") == nil,
                filesystem.element(named: "source")?[attribute: "socket"] == nil
            else { return }
            let driver = filesystem.children.firstIndex { if case .element(let e) = $0, e.name == "driver", e.namespace == nil { true } else { false } }
            let element = XMLElement(name: "binary", attributes: [XMLAttribute(name: "path", value: binary)])
            filesystem.children.insert(.element(element), at: driver.map { $0 + 1 } ?? 0)
        }
    }

    /// Names the render node the daemon chose on each OpenGL display whose XML names none, as
    /// libvirt's live XML does: `rendernode` on a SPICE server's `<gl enable='yes'>`, a
    /// `<gl rendernode>` of an egl-headless display.
    static func nameRenderNode(_ document: inout XMLElement, _ node: String) {
        updateDevices(&document, named: "graphics") { graphics, _ in
            let glPosition = graphics.children.firstIndex { if case .element(let e) = $0, e.name == "gl", e.namespace == nil { true } else { false } }
            switch graphics[attribute: "type"] {
            case "spice":
                guard let glPosition, case .element(var gl) = graphics.children[glPosition], gl[attribute: "enable"] == "yes", gl[attribute: "rendernode"] == nil else { return }
                gl[attribute: "rendernode"] = node
                graphics.children[glPosition] = .element(gl)
            case "egl-headless":
                guard glPosition == nil else { return }
                graphics.children.append(.element(XMLElement(name: "gl", attributes: [XMLAttribute(name: "rendernode", value: node)])))
            default:
                return
            }
        }
    }

    /// The listen address a VNC or SPICE server gets when the XML gives none (libvirt's
    /// `vnc_listen`/`spice_listen` default).
    static let defaultListenAddress = "127.0.0.1"

    /// Names the address each VNC and SPICE server listening on an address the XML leaves open
    /// listens on (`listen` on `<graphics>` and `address` on its `<listen>`), as libvirt's live
    /// XML does; returns which `<graphics>` (by position) got it.
    static func fillDefaultListenAddresses(_ document: inout XMLElement) -> Set<Int> {
        var filled: Set<Int> = []
        updateDevices(&document, named: "graphics") { graphics, position in
            guard ["vnc", "spice"].contains(graphics[attribute: "type"] ?? ""), graphics[attribute: "listen"] == nil,
                let listen = graphics.element(named: "listen"), listen[attribute: "type"] == "address", listen[attribute: "address"] == nil
            else { return }
            filled.insert(position)
            setListenAddress(&graphics, defaultListenAddress)
        }
        return filled
    }

    /// `<graphics listen>` (after the port, autoport and websocket attributes, where libvirt
    /// writes it) and the first `<listen>`'s `address`; taken off both when `address` is nil.
    static func setListenAddress(_ graphics: inout XMLElement, _ address: String?) {
        graphics[attribute: "listen"] = nil
        if let address {
            let before: Set<String> = ["type", "socket", "port", "autoport", "websocket", "tlsPort"]
            let at = (graphics.attributes.lastIndex { $0.namespace == nil && before.contains($0.name) }).map { $0 + 1 } ?? graphics.attributes.count
            graphics.attributes.insert(XMLAttribute(name: "listen", value: address), at: at)
        }
        var first = true
        graphics.updateElements { listen in
            guard first, listen.name == "listen", listen.namespace == nil else { return }
            first = false
            listen[attribute: "address"] = address
        }
    }

    /// Each virtio channel's `<target state>` from whether the guest has its side open
    /// (`open`, by the channel's chardev id), as libvirt's live XML says it from `query-chardev`.
    static func setChannelStates(_ document: inout XMLElement, devices: GuestDevices, open: [String: Bool]) {
        updateDevices(&document, named: "channel") { channel, index in
            guard let names = devices.characterDevice(.channel, index: index), let isOpen = open[names.chardev] else { return }
            channel.updateElements { target in
                guard target.name == "target", target.namespace == nil, target[attribute: "type"] == "virtio" else { return }
                target[attribute: "state"] = isOpen ? "connected" : "disconnected"
            }
        }
    }

    /// A running interface's host side as libvirt shows it: `<source network portid bridge>` for a
    /// network interface, and `<target dev>` naming the tap, after the source.
    static func setConnection(_ device: inout XMLElement, _ connection: CommandLineContext.InterfaceConnection) {
        if device[attribute: "type"] == "network" {
            device.updateElements { source in
                guard source.name == "source", source.namespace == nil else { return }
                source[attribute: "portid"] = connection.portID
                source[attribute: "bridge"] = connection.bridge
            }
        }
        device.children.removeAll { if case .element(let e) = $0, e.name == "target", e.namespace == nil { true } else { false } }
        let target = XMLNode.element(XMLElement(name: "target", attributes: [XMLAttribute(name: "dev", value: connection.tap)]))
        if let source = device.children.firstIndex(where: { if case .element(let e) = $0, e.name == "source" { true } else { false } }) {
            device.children.insert(target, at: source + 1)
        } else if let mac = device.children.firstIndex(where: { if case .element(let e) = $0, e.name == "mac" { true } else { false } }) {
            device.children.insert(target, at: mac + 1)
        } else {
            device.children.insert(target, at: 0)
        }
    }

    /// A variable `<clock>`'s live adjustment, from UTC (`basis='utc'`).
    /// The tray of the disk whose alias is `alias` open (`tray='open'`) or closed (no `tray`,
    /// as libvirt writes a closed one).
    static func setTray(_ document: inout XMLElement, alias: String, open: Bool) {
        updateDevices(&document, named: "disk") { disk, _ in
            guard disk.element(named: "alias")?[attribute: "name"] == alias else { return }
            setTray(&disk, open: open)
        }
    }

    /// `disk`'s `<target tray>`, where libvirt writes it (after `bus`).
    static func setTray(_ disk: inout XMLElement, open: Bool) {
        disk.updateElements { target in
            guard target.name == "target", target.namespace == nil else { return }
            target[attribute: "tray"] = nil
            guard open else { return }
            let position = (target.attributes.firstIndex { $0.name == "bus" }).map { $0 + 1 } ?? target.attributes.count
            target.attributes.insert(XMLAttribute(name: "tray", value: "open"), at: position)
        }
    }

    static func setClockAdjustment(_ document: inout XMLElement, _ adjustment: Int64) {
        document.updateElements { clock in
            guard clock.name == "clock", clock.namespace == nil, clock[attribute: "offset"] == "variable" else { return }
            clock[attribute: "adjustment"] = String(adjustment)
            clock[attribute: "basis"] = "utc"
        }
    }

    /// libvirt's `<backingStore index>` on each described layer below `element`: the number of
    /// its block nodes, top down.
    static func numberBackingChain(_ element: inout XMLElement, _ numbers: ArraySlice<UInt32>) {
        guard let number = numbers.first else { return }
        element.updateElements { layer in
            guard layer.name == "backingStore", layer.namespace == nil, layer[attribute: "type"] != nil else { return }
            layer[attribute: "index"] = String(number)
            numberBackingChain(&layer, numbers.dropFirst())
        }
    }

    /// The layers found in the image headers at start, below the chain the document describes,
    /// and `<backingStore/>` where the headers ended it (libvirt's live XML lists its detected
    /// chain the same way).
    /// An end the document already has is not written again.
    static func appendDetectedLayers(_ disk: inout XMLElement, _ layers: [DomainDefinition.Disk.BackingStore], ends: Bool) {
        guard !layers.isEmpty || (ends && !hasChainEnd(disk)) else { return }
        var chain: XMLElement? = ends ? XMLElement(name: "backingStore") : nil
        for layer in layers.reversed() {
            let source = XMLElement(name: "source", attributes: [XMLAttribute(name: layer.type == .block ? "dev" : "file", value: layer.path ?? "")])
            let format = XMLElement(name: "format", attributes: [XMLAttribute(name: "type", value: layer.format)])
            chain = XMLElement(
                name: "backingStore", attributes: [XMLAttribute(name: "type", value: layer.type.rawValue)],
                children: [.element(format), .element(source)] + (chain.map { [.element($0)] } ?? []))
        }
        guard let chain else { return }
        // Below the last layer the document describes, or under the disk after its source.
        func append(_ element: inout XMLElement) -> Bool {
            var appended = false
            element.updateElements { layer in
                guard !appended, layer.name == "backingStore", layer.namespace == nil, layer[attribute: "type"] != nil else { return }
                if !append(&layer) { layer.children.append(.element(chain)) }
                appended = true
            }
            return appended
        }
        if !append(&disk) {
            let at = disk.children.firstIndex { if case .element(let e) = $0, e.namespace == nil, e.name == "source" { true } else { false } }
            disk.children.insert(.element(chain), at: at.map { $0 + 1 } ?? disk.children.count)
        }
    }

    /// `disk` without the bottom `chain.layers` layers of its chain, and what is below them.
    /// An empty end right below the image or a described layer stays: libvirt marks the layers
    /// it finds as detected, not the end it puts below a raw image or a layer whose header names
    /// no backing file, so its saved and migratable XML keep that one.
    static func removeDetectedLayers(_ disk: inout XMLElement, _ chain: BackingChainCheck.Remembered) {
        guard chain.layers > 0 else { return }
        // How deep the typed layers go.
        var depth = 0
        var probe: XMLElement? = disk.element(named: "backingStore")
        while let layer = probe, layer[attribute: "type"] != nil {
            depth += 1
            probe = layer.element(named: "backingStore")
        }
        let keep = max(0, depth - chain.layers)
        func trim(_ element: inout XMLElement, level: Int) {
            if level >= keep {
                element.removeElements { $0.name == "backingStore" && $0.namespace == nil }
                return
            }
            element.updateElements { if $0.name == "backingStore" && $0.namespace == nil { trim(&$0, level: level + 1) } }
        }
        trim(&disk, level: 0)
    }

    /// Whether the chain under `disk` ends with an empty `<backingStore/>`.
    static func hasChainEnd(_ disk: XMLElement) -> Bool {
        var layer = disk.element(named: "backingStore")
        while let current = layer, current[attribute: "type"] != nil { layer = current.element(named: "backingStore") }
        return layer != nil
    }

    /// The same for a disk being plugged: its layers numbered `first`, `first + 1`, ….
    static func numberBackingChain(_ element: inout XMLElement, from first: UInt32) {
        element.updateElements { layer in
            guard layer.name == "backingStore", layer.namespace == nil, layer[attribute: "type"] != nil else { return }
            layer[attribute: "index"] = String(first)
            numberBackingChain(&layer, from: first &+ 1)
        }
    }

    /// Puts `<alias name>` where libvirt does: after the device's own details and boot order,
    /// before a USB companion's `<master>`, a `<rom>`, an `<acpi>` and the address.
    static func setAlias(_ device: inout XMLElement, _ alias: String) {
        device.children.removeAll { if case .element(let e) = $0, e.name == "alias", e.namespace == nil { true } else { false } }
        let element = XMLNode.element(XMLElement(name: "alias", attributes: [XMLAttribute(name: "name", value: alias)]))
        // libvirt's device information order: boot, alias, master, rom, acpi, address.
        let after: Set<String> = ["master", "rom", "acpi", "address"]
        if let address = device.children.firstIndex(where: { if case .element(let e) = $0, e.namespace == nil, after.contains(e.name) { true } else { false } }) {
            device.children.insert(element, at: address)
        } else {
            device.children.append(element)
        }
    }

    /// Whether the device carries a user alias (`ua-…`), which QEMU knows it by.
    private static func hasUserAlias(_ device: XMLElement) -> Bool {
        (device.element(named: "alias")?[attribute: "name"] ?? "").hasPrefix("ua-")
    }

    private static func setSourcePath(_ device: inout XMLElement, _ path: String) {
        if device.element(named: "source") != nil {
            device.updateElements { if $0.name == "source" { $0[attribute: "path"] = path } }
        } else {
            device.children.insert(.element(XMLElement(name: "source", attributes: [XMLAttribute(name: "path", value: path)])), at: 0)
        }
    }

    /// A running guest's document without what the run added (generated aliases, pseudo-terminal
    /// paths, an autoport VNC server's port): the definition it runs by, as a save image keeps
    /// it (libvirt's inactive, migratable form). User aliases (`ua-`) stay.
    /// A VNC server's socket on `<graphics>` (after `type`) and on its first `<listen>`, or
    /// taken off both when `path` is nil.
    static func setVNCSocket(_ device: inout XMLElement, _ path: String?) {
        device[attribute: "socket"] = path
        if path != nil, let socket = device.attributes.firstIndex(where: { $0.name == "socket" && $0.namespace == nil }) {
            let attribute = device.attributes.remove(at: socket)
            device.attributes.insert(attribute, at: min(1, device.attributes.count))
        }
        var first = true
        device.updateElements { listen in
            guard first, listen.name == "listen", listen.namespace == nil else { return }
            first = false
            listen[attribute: "socket"] = path
        }
    }

    /// What a run added to its guest's document beyond aliases, pseudo-terminals and ports,
    /// which its saved, migrated and snapshot XML leave out.
    struct RunAdditions: Sendable {
        /// The guest's run directory, which holds the sockets the daemon chose (a unix
        /// channel's, which libvirt leaves out of migratable XML).
        var runDirectory: String?
        /// The socket the daemon chose for a VNC server (in the run directory), which the next
        /// run chooses again.
        var vncSocket: String? { runDirectory.map { CommandLineContext.vncSocket(runDirectory: $0) } }
        /// The port chosen at start for a VNC WebSocket listener, which says -1 again (libvirt's
        /// `websocketGenerated`).
        var chosenWebsocket: Int?
        /// The layers found in image headers, by disk target (libvirt leaves its detected chain
        /// out).
        var detectedChains: [String: BackingChainCheck.Remembered] = [:]
        /// The `<graphics>` (by position) whose listen address is the daemon's default (libvirt's
        /// `fromConfig`, which migratable XML leaves out).
        var defaultListenGraphics: Set<Int> = []
        /// The `<cpu>` as asked for, where the live XML says what QEMU made of it.
        var askedCPU: XMLElement?
    }

    /// `document` without what this run added (libvirt's inactive, migratable form of a running
    /// guest): generated aliases (user aliases, `ua-`, stay), the id, pseudo-terminal paths,
    /// autoport ports, channel states and `added`.
    static func inactiveForm(_ document: XMLElement, added: RunAdditions = RunAdditions()) -> XMLElement {
        var document = document
        document[attribute: "id"] = nil
        if let asked = added.askedCPU { replaceCPU(&document, with: asked) }
        var graphicsPosition = 0
        let channelSockets = added.runDirectory.map { $0 + "/channel-" }
        document.updateElements { devicesElement in
            guard devicesElement.name == "devices", devicesElement.namespace == nil else { return }
            devicesElement.updateElements { device in
                guard device.namespace == nil else { return }
                device.removeElements { $0.name == "alias" && $0.namespace == nil && !($0[attribute: "name"] ?? "").hasPrefix("ua-") }
                switch device.name {
                case "disk":
                    if let target = device.element(named: "target")?[attribute: "dev"], let chain = added.detectedChains[target] { removeDetectedLayers(&device, chain) }
                case "serial", "console", "channel":
                    if device.name == "channel" {
                        device.updateElements { if $0.name == "target" && $0.namespace == nil { $0[attribute: "state"] = nil } }
                        if device[attribute: "type"] == "unix", let channelSockets {
                            device.removeElements { $0.name == "source" && $0.namespace == nil && ($0[attribute: "path"] ?? "").hasPrefix(channelSockets) }
                        }
                    }
                    guard (device[attribute: "type"] ?? "pty") == "pty" else { return }
                    device[attribute: "tty"] = nil
                    device.removeElements { $0.name == "source" && $0.namespace == nil && $0.attributes.allSatisfy({ $0.name == "path" }) }
                case "graphics":
                    defer { graphicsPosition += 1 }
                    // An autoport VNC server's port is -1 again; a SPICE server's is not written.
                    if device[attribute: "autoport"] == "yes" { device[attribute: "port"] = device[attribute: "type"] == "spice" ? nil : "-1" }
                    if let vncSocket = added.vncSocket, device[attribute: "type"] == "vnc", device[attribute: "socket"] == vncSocket { setVNCSocket(&device, nil) }
                    if let chosen = added.chosenWebsocket, device[attribute: "type"] == "vnc", device[attribute: "websocket"] == String(chosen) { device[attribute: "websocket"] = "-1" }
                    if added.defaultListenGraphics.contains(graphicsPosition) { setListenAddress(&device, nil) }
                default:
                    break
                }
            }
        }
        return document
    }
}

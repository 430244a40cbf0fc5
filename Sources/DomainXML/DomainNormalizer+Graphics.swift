import XMLTree

extension DomainNormalizer {
    /// A SPICE server's ports and listen as libvirt writes them: an autoport server (or one
    /// with the legacy `port='-1' tlsPort='-1'`) has no port attributes; one with neither a
    /// port nor autoport listens nowhere (`<listen type='none'>`, libvirt's post-parse
    /// conversion); one that listens nowhere has no port, TLS port or autoport attributes.
    static func normalizeSPICEPorts(_ device: inout XMLElement) {
        let port = device[attribute: "port"], tlsPort = device[attribute: "tlsPort"]
        if device[attribute: "autoport"] == "yes" || (port == "-1" && tlsPort == "-1") {
            device[attribute: "port"] = nil
            device[attribute: "tlsPort"] = nil
            device[attribute: "autoport"] = "yes"
        } else if [nil, "0"].contains(port) && [nil, "0"].contains(tlsPort) {
            let firstListen = device.children.firstIndex { if case .element(let e) = $0, e.name == "listen", e.namespace == nil { true } else { false } }
            let listenType = firstListen.flatMap { position -> String? in
                if case .element(let listen) = device.children[position] { listen[attribute: "type"] ?? "address" } else { nil }
            }
            if listenType == nil || listenType == "address" {
                // No port and no autoport: the server listens nowhere (its address is dropped).
                let none = XMLNode.element(element("listen", [("type", "none")]))
                if let firstListen { device.children[firstListen] = none } else { device.children.insert(none, at: 0) }
                device[attribute: "listen"] = nil
            }
        }
        if device.element(named: "listen")?[attribute: "type"] == "none" {
            device[attribute: "port"] = nil
            device[attribute: "tlsPort"] = nil
            device[attribute: "autoport"] = nil
        }
    }

    /// A SPICE server's `<channel>`s and `defaultMode` as libvirt writes them: each channel
    /// once (the last said), in libvirt's order of channels, after the listens; none in mode
    /// `any`, nor a `defaultMode='any'`. Channels that do not read stay, for the model's error.
    static func normalizeSPICEChannels(_ device: inout XMLElement) {
        typealias Settings = DomainDefinition.SpiceSettings
        if device[attribute: "defaultMode"] == Settings.ChannelMode.any.rawValue { device[attribute: "defaultMode"] = nil }
        func isChannel(_ node: XMLNode) -> Bool { if case .element(let e) = node { e.name == "channel" && e.namespace == nil } else { false } }
        guard device.children.contains(where: isChannel) else { return }
        var modes: [Settings.ChannelName: String] = [:]
        for channel in device.elements(named: "channel") {
            guard let name = channel[attribute: "name"].flatMap(Settings.ChannelName.init(rawValue:)), let mode = channel[attribute: "mode"],
                Settings.ChannelMode(rawValue: mode) != nil
            else { return }
            modes[name] = mode
        }
        let channels = Settings.ChannelName.allCases.compactMap { name -> XMLNode? in
            guard let mode = modes[name], mode != Settings.ChannelMode.any.rawValue else { return nil }
            return .element(element("channel", [("name", name.rawValue), ("mode", mode)]))
        }
        device.children.removeAll(where: isChannel)
        let lastListen = device.children.lastIndex { if case .element(let e) = $0 { e.name == "listen" && e.namespace == nil } else { false } }
        device.children.insert(contentsOf: channels, at: lastListen.map { $0 + 1 } ?? 0)
        if device.children.allSatisfy({ if case .text(let text) = $0 { text.isAllWhitespace } else { false } }) { device.children = [] }
    }

    /// A VNC or SPICE server's password attributes as libvirt writes them: `passwd`,
    /// `passwdValidTo` (zero-padded, UTC) and `connected`, after the others; the last two only
    /// with a password (libvirt reads them only then).
    static func normalizePasswordAttributes(_ device: inout XMLElement) {
        guard ["vnc", "spice"].contains(device[attribute: "type"] ?? "") else { return }
        let names = ["passwd", "passwdValidTo", "connected"]
        guard device.attributes.contains(where: { names.contains($0.name) }) else { return }
        var auth = device.attributes.filter { names.contains($0.name) }
        device.attributes.removeAll { names.contains($0.name) }
        if !auth.contains(where: { $0.name == "passwd" }) { auth = [] }
        auth.sort { names.firstIndex(of: $0.name)! < names.firstIndex(of: $1.name)! }
        for index in auth.indices where auth[index].name == "passwdValidTo" {
            // Unreadable text is left for the model's check to refuse in libvirt's words.
            if let seconds = UTCDateText.parse(auth[index].value), let text = UTCDateText.format(seconds) { auth[index].value = text }
        }
        device.attributes += auth
    }

    /// A display's `<gl>` as libvirt writes it: SPICE's last among its children, `enable` then
    /// `rendernode`; an egl-headless display's with its render node only, and none without one;
    /// an SDL display's with `enable` only; dropped from the other displays, which libvirt does
    /// not read it of.
    static func normalizeOpenGL(_ device: inout XMLElement) {
        func isGL(_ node: XMLNode) -> Bool { if case .element(let e) = node { e.name == "gl" && e.namespace == nil } else { false } }
        guard let position = device.children.firstIndex(where: isGL), case .element(var gl) = device.children[position] else { return }
        device.children.removeAll(where: isGL)
        switch device[attribute: "type"] {
        case "spice":
            orderAttributes(&gl, ["enable", "rendernode"])
        case "egl-headless":
            gl.attributes.removeAll { $0.name != "rendernode" }
            guard gl[attribute: "rendernode"] != nil else { return }
        case "sdl":
            gl.attributes.removeAll { $0.name != "enable" }
        default:
            return
        }
        // After the last element child, before any trailing text.
        let last = device.children.lastIndex { if case .element = $0 { true } else { false } }
        device.children.insert(.element(gl), at: last.map { $0 + 1 } ?? device.children.count)
    }
}

import XMLTree

extension DomainDefinition.Audio {
    /// The element as libvirt writes it (virDomainAudioDefFormat): the backend's attributes,
    /// then each direction that has a setting, with `<settings>` when its settings are fixed.
    var element: XMLElement {
        var attributes: [(String, String?)] = [("id", String(id)), ("type", backend.rawValue), ("timerPeriod", timerPeriod.map(String.init))]
        switch backend {
        case .oss: attributes += [("tryMMap", Self.yesNo(tryMMap)), ("exclusive", Self.yesNo(exclusive)), ("dspPolicy", dspPolicy.map(String.init))]
        case .pulseaudio: attributes.append(("serverName", serverName))
        case .sdl: attributes.append(("driver", sdlDriver?.rawValue))
        case .file: attributes.append(("path", path))
        default: break
        }
        var children: [XMLNode] = []
        for (name, stream) in [("input", input), ("output", output)] {
            guard let stream, let child = Self.element(name, stream, backend: backend) else { continue }
            children.append(.element(child))
        }
        return XMLElement(name: "audio", attributes: Self.present(attributes), children: children)
    }

    static func element(_ name: String, _ stream: Stream, backend: Backend) -> XMLElement? {
        var attributes: [(String, String?)] = [
            ("mixingEngine", yesNo(stream.mixingEngine)), ("fixedSettings", yesNo(stream.fixedSettings)), ("voices", stream.voices.map(String.init)),
            ("bufferLength", stream.bufferLength.map(String.init)),
        ]
        switch backend {
        case .alsa: attributes.append(("dev", stream.device))
        case .coreaudio, .sdl: attributes.append(("bufferCount", stream.bufferCount.flatMap { $0 == 0 ? nil : String($0) }))
        case .jack:
            attributes += [("serverName", stream.serverName), ("clientName", stream.clientName), ("connectPorts", stream.connectPorts), ("exactName", yesNo(stream.exactName))]
        case .oss:
            attributes += [("dev", stream.device), ("bufferCount", stream.bufferCount.flatMap { $0 == 0 ? nil : String($0) }), ("tryPoll", yesNo(stream.tryPoll))]
        case .pulseaudio:
            attributes += [("name", stream.name), ("streamName", stream.streamName), ("latency", stream.latency.flatMap { $0 == 0 ? nil : String($0) })]
        default: break
        }
        let written = present(attributes)
        guard !written.isEmpty else { return nil }
        var children: [XMLNode] = []
        if stream.fixedSettings == true {
            let settings = present([("frequency", stream.frequency.map(String.init)), ("channels", stream.channels.map(String.init)), ("format", stream.format?.rawValue)])
            children.append(.element(XMLElement(name: "settings", attributes: settings)))
        }
        return XMLElement(name: name, attributes: written, children: children)
    }

    static func yesNo(_ flag: Bool?) -> String? { flag.map { $0 ? "yes" : "no" } }

    static func present(_ attributes: [(String, String?)]) -> [XMLAttribute] {
        attributes.compactMap { name, value in value.map { XMLAttribute(name: name, value: $0) } }
    }
}

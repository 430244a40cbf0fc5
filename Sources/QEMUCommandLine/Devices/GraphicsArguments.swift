import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// VNC and SPICE servers and egl-headless displays (`-display none` without graphics).
    mutating func addGraphics() throws(CommandLineError) {
        let graphics = domain.devices.graphics
        if graphics.isEmpty { add("-display", "none") }
        // libvirt's rule (qemuBuildGraphicsCommandLine's count).
        for kind in Set(graphics.map(\.type)) where graphics.filter({ $0.type == kind }).count > 1 {
            throw CommandLineError(.unsupported, "only 1 graphics device of each type (sdl, vnc, spice, headless, dbus) is supported")
        }
        for server in graphics {
            switch server.type {
            case .vnc:
                let display: Int
                if let port = server.port, port >= 5900, !server.autoport { display = port - 5900 } else { display = context.vncDisplay ?? 0 }
                var options: [String] = []
                if let websocket = server.websocket {
                    // -1: the port the daemon chose at start (libvirt's range starts at 5700).
                    options.append("websocket=\(websocket > 0 ? websocket : context.vncWebsocketPort ?? 5700)")
                }
                if let policy = server.vncSharePolicy { options.append("share=\(policy.rawValue)") }
                if server.password != nil { options.append("password=on") }
                if let power = server.vncPowerControl { options.append("power-control=\(power ? "on" : "off")") }
                if let audio = audioDeviceID(server.audioID) { options.append("audiodev=\(audio)") }
                if let socket = server.listenSocket {
                    // A Unix socket (libvirt's `vnc=unix:PATH`); no TCP port, no websocket.
                    let path = socket.isEmpty ? context.vncSocket : socket
                    add("-vnc", QEMUKeyValue.render([("vnc", "unix:" + path)]) + options.filter { !$0.hasPrefix("websocket=") }.map { "," + $0 }.joined())
                    continue
                }
                // An IPv6 address in brackets, as libvirt writes it.
                let address = server.listen.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "127.0.0.1"
                add("-vnc", try QEMUKeyValue.implied("\(address):\(display)") + options.map { "," + $0 }.joined())
            case .spice:
                add("-spice", try spiceOptions(server))
            case .sdl:
                // A window on the X server the XML names (libvirt's
                // qemuBuildGraphicsSDLCommandLine; its DISPLAY and XAUTHORITY are set in the
                // environment).
                if server.sdlFullScreen { add("-full-screen") }
                add("-display", "sdl" + (server.openGL.map { ",gl=\($0 ? "on" : "off")" } ?? ""))
            case .eglHeadless:
                // QEMU renders on the render node, for a VNC or SPICE server to show.
                let node = renderNode(for: server)
                add("-display", "egl-headless" + (node.map { "," + QEMUKeyValue.render([("rendernode", $0)]) } ?? ""))
            default:
                throw CommandLineError(.unsupported, "graphics type '\(server.type.rawValue)' is not supported (only vnc, spice, sdl and egl-headless)")
            }
            if let keymap = server.keymap { add("-k", keymap) }
        }
    }

    /// `-spice`'s value, in libvirt's order (qemuBuildGraphicsSPICECommandLine): its plaintext
    /// and TLS ports (those chosen at start for autoport), their address, the certificates'
    /// directory when there is a TLS port, then each channel's mode, which needs a port of its kind.
    func spiceOptions(_ server: DomainDefinition.Graphics) throws(CommandLineError) -> String {
        let spice = server.spice
        var options: [(String, String)] = []
        var hasSecure = false, hasInsecure = false
        if server.listensNowhere {
            // QEMU needs a port or a TLS port when nothing else is said: a dummy port 0.
            options.append(("port", "0"))
            hasInsecure = true
        } else {
            let choose = server.spicePortsToChoose(tls: context.spiceTLSDirectory != nil)
            if choose.tlsPort && context.spiceTLSDirectory == nil {
                throw CommandLineError(.unsupported, "Auto allocation of spice TLS port requested but spice TLS is disabled in qemu.conf")
            }
            let port = choose.port ? (context.spicePort ?? 5900) : (server.port ?? 0)
            let tlsPort = choose.tlsPort ? (context.spiceTLSPort ?? 5901) : (spice.tlsPort ?? 0)
            if port > 0 {
                options.append(("port", String(port)))
                hasInsecure = true
            }
            if tlsPort > 0 {
                options.append(("tls-port", String(tlsPort)))
                hasSecure = true
            }
            if port > 0 || tlsPort > 0 { options.append(("addr", server.listen ?? "127.0.0.1")) }
        }
        switch spice.mouse {
        case .server?: options.append(("agent-mouse", "off"))
        case .client?: options.append(("agent-mouse", "on"))
        case nil: break
        }
        // A password is set over QMP at start; without one, clients need no ticket.
        if server.password == nil { options.append(("disable-ticketing", "on")) }
        if hasSecure, let directory = context.spiceTLSDirectory { options.append(("x509-dir", directory)) }
        switch spice.defaultMode {
        case .secure:
            guard hasSecure else {
                throw CommandLineError(.unsupported, "spice defaultMode secure requested in XML configuration, but TLS connection is not available")
            }
            options.append(("tls-channel", "default"))
        case .insecure:
            guard hasInsecure else {
                throw CommandLineError(.unsupported, "spice defaultMode insecure requested in XML configuration, but plaintext connection is not available")
            }
            options.append(("plaintext-channel", "default"))
        case .any:
            break
        }
        for name in DomainDefinition.SpiceSettings.ChannelName.allCases {
            switch spice.channels[name] {
            case .secure?:
                guard hasSecure else {
                    throw CommandLineError(.unsupported, "spice secure channels set in XML configuration, but TLS connection is not available")
                }
                options.append(("tls-channel", name.rawValue))
            case .insecure?:
                guard hasInsecure else {
                    throw CommandLineError(.unsupported, "spice insecure channels set in XML configuration, but plaintext connection is not available")
                }
                options.append(("plaintext-channel", name.rawValue))
            case .any?, nil:
                break
            }
        }
        if let image = spice.imageCompression { options.append(("image-compression", image.rawValue)) }
        if let jpeg = spice.jpegCompression { options.append(("jpeg-wan-compression", jpeg.rawValue)) }
        if let zlib = spice.zlibCompression { options.append(("zlib-glz-wan-compression", zlib.rawValue)) }
        if let playback = spice.playbackCompression { options.append(("playback-compression", playback.rawValue)) }
        if let streaming = spice.streaming { options.append(("streaming-video", streaming.rawValue)) }
        if spice.copyPaste == .no { options.append(("disable-copy-paste", "on")) }
        if spice.fileTransfer == .no { options.append(("disable-agent-file-xfer", "on")) }
        if server.openGL == true {
            options.append(("gl", "on"))
            if let node = renderNode(for: server) { options.append(("rendernode", node)) }
        }
        options.append(("seamless-migration", "on"))
        return QEMUKeyValue.render(options)
    }

    /// The render node an OpenGL display uses: the one the XML names, else the one the daemon
    /// chose at start (``CommandLineContext/renderNode``).
    func renderNode(for server: DomainDefinition.Graphics) -> String? {
        server.renderNode ?? context.renderNode
    }
}

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
            case .eglHeadless:
                // QEMU renders on the render node, for a VNC or SPICE server to show.
                let node = renderNode(for: server)
                add("-display", "egl-headless" + (node.map { "," + QEMUKeyValue.render([("rendernode", $0)]) } ?? ""))
            default:
                throw CommandLineError(.unsupported, "graphics type '\(server.type.rawValue)' is not supported (only vnc, spice and egl-headless)")
            }
            if let keymap = server.keymap { add("-k", keymap) }
        }
    }

    /// `-spice`'s value, in libvirt's order. Corral runs SPICE without TLS (libvirt's default,
    /// `spice_tls = 0`): a TLS port in the XML is refused, `-1` ignored.
    func spiceOptions(_ server: DomainDefinition.Graphics) throws(CommandLineError) -> String {
        let spice = server.spice
        var options: [(String, String)] = []
        if server.listensNowhere {
            options.append(("port", "0"))
        } else {
            let port = server.autoport || (server.port ?? -1) <= 0 ? (context.spicePort ?? 5900) : (server.port ?? 5900)
            options += [("port", String(port)), ("addr", server.listen ?? "127.0.0.1")]
        }
        switch spice.mouse {
        case .server?: options.append(("agent-mouse", "off"))
        case .client?: options.append(("agent-mouse", "on"))
        case nil: break
        }
        // A password is set over QMP at start; without one, clients need no ticket.
        if server.password == nil { options.append(("disable-ticketing", "on")) }
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

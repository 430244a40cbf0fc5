import XMLTree

extension DomainDefinition {
    /// `<graphics>`.
    public struct Graphics: Hashable, Sendable, ModelledElement {
        /// `<graphics type>`.
        public enum Kind: String, ModelledValue {
            case sdl, vnc, rdp, desktop, spice, eglHeadless = "egl-headless", dbus
        }

        public var type: Kind
        public var port: Int?
        public var autoport: Bool
        /// The address to listen on: `<listen type='address' address>` or the `listen` attribute.
        public var listen: String?
        /// `<listen type='none'>`: a SPICE server no client reaches over the network.
        public var listensNowhere = false
        /// `<listen type='socket' socket>` (or the `socket` attribute) of a VNC server: the Unix
        /// socket it listens on; empty: one in the guest's run directory (`vnc.sock`).
        public var listenSocket: String?
        public var alias: String?
        /// `keymap`.
        public var keymap: String?
        /// SPICE's settings (`<image compression>`, `<mouse mode>`, …).
        public var spice = SpiceSettings()
        /// `passwd`: the password a VNC or SPICE client must give (set over QMP at start).
        public var password: String?
        /// `passwdValidTo`: when the password stops working, in seconds since the epoch (UTC).
        public var passwordValidTo: Int64?
        /// `connected`: what setting the password does to clients already connected.
        public var connectedClients: ConnectedClients?
        /// `websocket` of a VNC server: the port of its WebSocket listener.
        public var websocket: Int?
        /// `<audio id>` of a VNC server: the backend its clients hear (none: the first).
        public var audioID: Int?
        /// `sharePolicy` of a VNC server: how clients share the display.
        public var vncSharePolicy: VNCSharePolicy?
        /// `powerControl` of a VNC server: whether a client may power the guest off, reset or
        /// reboot it (QEMU's `power-control`).
        public var vncPowerControl: Bool?

        /// `<graphics sharePolicy>`.
        public enum VNCSharePolicy: String, ModelledValue {
            case allowExclusive = "allow-exclusive", forceShared = "force-shared", ignore
        }

        /// `<gl enable>` of a SPICE server or an SDL display: OpenGL rendering in QEMU (`gl=on`),
        /// for virtio cards with 3D acceleration; `nil` when not said.
        public var openGL: Bool?
        /// `<gl rendernode>` of a SPICE server with OpenGL or of an egl-headless display: the DRM
        /// render node QEMU renders on; `nil`: the host's first, chosen at start.
        public var renderNode: String?

        /// An SDL display's X server (`display`, QEMU's `DISPLAY`) and its authority file
        /// (`xauth`, `XAUTHORITY`); `nil`: the daemon's own environment's.
        public var sdlDisplay: String?
        public var sdlAuthority: String?
        /// `fullscreen='yes'` of an SDL display.
        public var sdlFullScreen = false

        /// Whether QEMU renders with OpenGL for this display (an egl-headless display, or SPICE
        /// with `<gl enable='yes'>`), and so needs a render node.
        public var rendersWithOpenGL: Bool { type == .eglHeadless || (type == .spice && openGL == true) }

        static let schema = ElementSchema("graphics", attributes: ["type", "port", "autoport", "listen", "tlsPort", "keymap", "passwd", "passwdValidTo", "connected", "websocket", "socket", "sharePolicy", "powerControl", "defaultMode",
            "display", "xauth", "fullscreen"], children: [
            ElementSchema("listen", attributes: ["type", "address", "socket"]), ElementSchema("audio", attributes: ["id"]),
            ElementSchema("gl", attributes: ["enable", "rendernode"]),
        ] + SpiceSettings.schemas)

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.requiredAttribute("type", of: element)
            port = element[attribute: "port"].flatMap { Int($0) }
            autoport = element[attribute: "autoport"] == "yes"
            listen = element[attribute: "listen"]
            if let first = element.element(named: "listen") {
                switch first[attribute: "type"] ?? "address" {
                case "address": listen = first[attribute: "address"] ?? listen
                case "none": listensNowhere = true
                case "socket": listenSocket = first[attribute: "socket"] ?? element[attribute: "socket"] ?? ""
                default: break  // network listens are refused at start
                }
            } else if let socket = element[attribute: "socket"] {
                listenSocket = socket
            }
            alias = DeviceCommon.alias(element)
            keymap = element[attribute: "keymap"]
            password = element[attribute: "passwd"]
            // Read only with a password, as libvirt reads them (the normaliser drops them otherwise).
            if password != nil {
                if let text = element[attribute: "passwdValidTo"] {
                    guard let expiry = UTCDateText.parse(text) else {
                        throw DomainXMLError(.internalError, "cannot parse password validity time '\(text)', expect YYYY-MM-DDTHH:MM:SS")
                    }
                    passwordValidTo = expiry
                }
                if let text = element[attribute: "connected"] {
                    guard let connected = ConnectedClients(rawValue: text) else { throw DomainXMLError(.unsupported, "unknown connected value \(text)") }
                    if type == .vnc && connected != .keep { throw DomainXMLError(.unsupported, "VNC supports connected='keep' only") }
                    connectedClients = connected
                }
            }
            if let text = element[attribute: "websocket"] {
                // -1 asks for a port chosen at start (from 5700 up, libvirt's range).
                guard let port = Int(text), port == -1 || (1...65535).contains(port) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'websocket' in element 'graphics': '\(text)'.")
                }
                websocket = port
            }
            if type == .spice { spice = try SpiceSettings(element) }
            if type == .sdl {
                sdlDisplay = element[attribute: "display"]
                sdlAuthority = element[attribute: "xauth"]
                sdlFullScreen = try AttributeValues.yesNo("fullscreen", of: element) ?? false
            }
            if type == .vnc {
                vncSharePolicy = try VNCSharePolicy.optionalAttribute("sharePolicy", of: element)
                vncPowerControl = try AttributeValues.yesNo("powerControl", of: element)
            }
            audioID = try Audio.reference(in: element)
            if let gl = element.element(named: "gl") {
                // libvirt reads `<gl>` of SPICE (`enable` required) and egl-headless (the render
                // node only); the normaliser drops it from other displays, as libvirt does.
                if type == .spice || type == .sdl {
                    guard let enabled = try AttributeValues.yesNo("enable", of: gl) else {
                        throw DomainXMLError(.invalid, line: gl.line, "Missing required attribute 'enable' in element 'gl'")
                    }
                    openGL = enabled
                }
                if type == .spice || type == .eglHeadless { renderNode = gl[attribute: "rendernode"] }
            }
        }
    }

    /// A SPICE server's settings, libvirt's children of `<graphics type='spice'>`.
    public struct SpiceSettings: Hashable, Sendable {
        /// `<image compression>`.
        public enum ImageCompression: String, ModelledValue {
            case autoGLZ = "auto_glz", autoLZ = "auto_lz", quic, glz, lz, off
        }

        /// `<jpeg compression>` and `<zlib compression>`.
        public enum WANCompression: String, ModelledValue {
            case auto, never, always
        }

        /// `<streaming mode>`.
        public enum StreamingMode: String, ModelledValue {
            case filter, all, off
        }

        /// `<mouse mode>`.
        public enum MouseMode: String, ModelledValue {
            case server, client
        }

        /// `yes`/`no` of `<clipboard copypaste>` and `<filetransfer enable>`.
        public enum YesNo: String, ModelledValue {
            case yes, no
        }

        /// A SPICE channel (`<channel name>`), in libvirt's order.
        public enum ChannelName: String, ModelledValue {
            case main, display, inputs, cursor, playback, record, smartcard, usbredir
        }

        /// `<channel mode>` and `defaultMode`: whether a channel goes over TLS.
        public enum ChannelMode: String, ModelledValue {
            case any, secure, insecure
        }

        public var tlsPort: Int?
        /// `defaultMode`: the channels' mode unless they say.
        public var defaultMode: ChannelMode = .any
        /// `<channel name mode>`: each named channel's mode (the last said wins, as libvirt reads them).
        public var channels: [ChannelName: ChannelMode] = [:]
        public var imageCompression: ImageCompression?
        public var jpegCompression: WANCompression?
        public var zlibCompression: WANCompression?
        public var playbackCompression: FeatureSwitch?
        public var streaming: StreamingMode?
        public var mouse: MouseMode?
        public var copyPaste: YesNo?
        public var fileTransfer: YesNo?

        static let schemas = [
            ElementSchema("image", attributes: ["compression"]), ElementSchema("jpeg", attributes: ["compression"]),
            ElementSchema("zlib", attributes: ["compression"]), ElementSchema("playback", attributes: ["compression"]),
            ElementSchema("streaming", attributes: ["mode"]), ElementSchema("mouse", attributes: ["mode"]),
            ElementSchema("clipboard", attributes: ["copypaste"]), ElementSchema("filetransfer", attributes: ["enable"]),
            ElementSchema("channel", attributes: ["name", "mode"]),
        ]

        public init() {}

        init(_ element: XMLElement) throws(DomainXMLError) {
            tlsPort = element[attribute: "tlsPort"].flatMap { Int($0) }
            defaultMode = try ChannelMode.attribute("defaultMode", of: element, default: .any)
            for channel in element.elements(named: "channel") {
                channels[try ChannelName.requiredAttribute("name", of: channel)] = try ChannelMode.requiredAttribute("mode", of: channel)
            }
            imageCompression = try ImageCompression.optionalAttribute("compression", of: element.element(named: "image"))
            jpegCompression = try WANCompression.optionalAttribute("compression", of: element.element(named: "jpeg"))
            zlibCompression = try WANCompression.optionalAttribute("compression", of: element.element(named: "zlib"))
            playbackCompression = try FeatureSwitch.optionalAttribute("compression", of: element.element(named: "playback"))
            streaming = try StreamingMode.optionalAttribute("mode", of: element.element(named: "streaming"))
            mouse = try MouseMode.optionalAttribute("mode", of: element.element(named: "mouse"))
            copyPaste = try YesNo.optionalAttribute("copypaste", of: element.element(named: "clipboard"))
            fileTransfer = try YesNo.optionalAttribute("enable", of: element.element(named: "filetransfer"))
        }
    }
}

extension DomainDefinition.Graphics {
    /// The ports of a SPICE server chosen at start (libvirt's qemuProcessSPICEAllocatePorts): an
    /// autoport server's plaintext port when a channel or its default may be plaintext, and its
    /// TLS port when one must be secure or SPICE may use TLS (`tls`) and its default is any; a
    /// port given as `-1` in any case. A server that listens nowhere needs none.
    public func spicePortsToChoose(tls: Bool) -> (port: Bool, tlsPort: Bool) {
        guard type == .spice, !listensNowhere, listenSocket == nil else { return (false, false) }
        var port = self.port == -1, tlsPort = spice.tlsPort == -1
        if autoport {
            for mode in spice.channels.values {
                if mode == .secure { tlsPort = true }
                if mode == .insecure { port = true }
            }
            switch spice.defaultMode {
            case .secure: tlsPort = true
            case .insecure: port = true
            case .any:
                port = true
                if tls { tlsPort = true }
            }
        }
        return (port, tlsPort)
    }
}

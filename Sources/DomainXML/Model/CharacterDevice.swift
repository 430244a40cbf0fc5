import XMLTree

extension DomainDefinition {
    /// `<serial>`, `<console>` and `<channel>`.
    public struct CharacterDevice: Hashable, Sendable {
        /// The host side: `<serial type>` and its kin.
        public enum Kind: String, ModelledValue {
            case null, vc, pty, dev, file, pipe, stdio, udp, tcp, unix, spicevmc, spiceport, nmdm, qemuVDAgent = "qemu-vdagent", dbus
        }

        public var type: Kind
        /// `<source path>` for file and unix.
        public var path: String?
        /// `<source mode>` (`bind`/`connect`) for unix and tcp.
        public var mode: String?
        public var host: String?
        public var service: String?
        /// `<target type>` (`isa-serial`, `serial`, `virtio`, …).
        public var targetType: String?
        public var targetPort: Int?
        /// `<address type='isa'>` of a serial port (and of the console that is serial port 0).
        public var isaAddress: ISAAddress?
        /// `<target name>` for virtio channels (`org.qemu.guest_agent.0`).
        public var targetName: String?
        public var alias: String?
        /// `<protocol type>` of a TCP device: `raw` (nil) or `telnet`; TLS forms are refused at start.
        public var tcpProtocol: String?
        /// `<source tls>` of a TCP device: whether QEMU speaks TLS on it; `nil`: as the daemon's
        /// `chardev_tls` says.
        public var tls: Bool?
        /// `<address type='virtio-serial' port>`: a channel's port on the virtio-serial bus.
        public var port: Int?
        /// A `qemu-vdagent` channel's `<source><clipboard copypaste>`: whether QEMU's agent
        /// shares the clipboard (`nil`: QEMU's default).
        public var vdagentClipboard: Bool?
        /// A `qemu-vdagent` channel's `<source><mouse mode>`: `client` (true) or `server`.
        public var vdagentClientMouse: Bool?
        /// A `udp` device's `<source mode='bind' host service>`: the local address QEMU sends
        /// from and receives on (`nil`: any address, a port the kernel picks).
        public var udpBindHost: String?
        public var udpBindService: String?
        /// A `udp` device's `<source mode='connect' host service>`: where QEMU sends.
        public var udpConnectHost: String?
        public var udpConnectService: String?
        /// A guestfwd channel's `<target address port>`: what QEMU's user-mode network forwards
        /// to the channel.
        public struct GuestForward: Hashable, Sendable {
            /// Dotted IPv4 (normalised).
            public var address: String
            /// 0-65535 (normalised).
            public var port: Int
        }

        public var guestForward: GuestForward?
        /// `<log file>`: where QEMU copies what the device carries.
        public var logFile: String?
        /// `<log append>`: whether QEMU appends to the log file (`nil`: QEMU's default, truncate).
        public var logAppend: Bool?
        /// `<source append>` of a `file` device: `on` appends to the file; `off`, or not said,
        /// truncates it at start (libvirt's rule).
        public var fileAppend: Bool?
        /// The security models the `<seclabel>`s of the source name.
        public var securityLabelModels: [String] = []
        /// A `spiceport` device's `<source channel>`: the SPICE port channel's name
        /// (`org.qemu.console.serial.0`).
        public var spicePortChannel: String?

        /// `<log file append>`.
        static let logSchema = ElementSchema("log", attributes: ["file", "append"])

        /// `<protocol type>` of a TCP device (libvirt writes `raw`, its default).
        static let protocolSchema = ElementSchema("protocol", attributes: ["type"])

        static let serialSchema = ElementSchema("serial", attributes: ["type"], children: [
            ElementSchema("source", attributes: ["path", "mode", "host", "service", "append", "tls", "channel"], children: [DeviceSecurityLabel.schema]), protocolSchema, logSchema,
            ElementSchema("target", attributes: ["type", "port"], children: [ElementSchema("model", attributes: ["name"])]), .alias, .address,
        ])
        static let parallelSchema = ElementSchema("parallel", attributes: ["type"], children: [
            ElementSchema("source", attributes: ["path", "mode", "host", "service", "append", "tls", "channel"], children: [DeviceSecurityLabel.schema]), protocolSchema, logSchema, ElementSchema("target", attributes: ["port"]), .alias, .address,
        ])
        static let consoleSchema = ElementSchema("console", attributes: ["type"], children: [
            ElementSchema("source", attributes: ["path", "mode", "host", "service", "append", "tls", "channel"], children: [DeviceSecurityLabel.schema]), protocolSchema, logSchema, ElementSchema("target", attributes: ["type", "port"]), .alias, .address,
        ])
        static let channelSchema = ElementSchema("channel", attributes: ["type"], children: [protocolSchema,
            ElementSchema("source", attributes: ["path", "mode", "host", "service", "tls", "channel"], children: [
                ElementSchema("clipboard", attributes: ["copypaste"]), ElementSchema("mouse", attributes: ["mode"]), DeviceSecurityLabel.schema,
            ]),
            logSchema, ElementSchema("target", attributes: ["type", "name", "state", "address", "port"]), .alias, .address,
        ])

        /// A character device of `type` with nothing else set.
        public init(type: Kind) {
            self.type = type
        }

        init(_ element: XMLElement) throws(DomainXMLError) {
            let source = element.element(named: "source"), target = element.element(named: "target")
            type = try Kind.attribute("type", of: element, default: .pty)
            path = source?[attribute: "path"]
            securityLabelModels = DeviceSecurityLabel.models(of: source)
            if type == .file { fileAppend = try AttributeValues.onOff("append", of: source) }
            isaAddress = try ISAAddress(device: element)
            mode = source?[attribute: "mode"]
            host = source?[attribute: "host"]
            service = source?[attribute: "service"]
            if type == .tcp { tls = try AttributeValues.yesNo("tls", of: source) }
            targetType = target?[attribute: "type"]
            targetPort = target?[attribute: "port"].flatMap { Int($0) }
            targetName = target?[attribute: "name"]
            if element.name == "channel", targetType == "guestfwd", let address = target?[attribute: "address"],
                let port = target?[attribute: "port"].flatMap({ Int($0) })
            {
                guestForward = GuestForward(address: address, port: port)
            }
            alias = DeviceCommon.alias(element)
            tcpProtocol = element.element(named: "protocol")?[attribute: "type"].flatMap { $0 == "raw" ? nil : $0 }
            if type == .udp { try readUDPSources(element) }
            if type == .spiceport { spicePortChannel = source?[attribute: "channel"] }
            // libvirt's check (virDomainChrSourceDefValidate): these name a host file.
            if [.file, .dev, .pipe].contains(type) && path == nil {
                throw DomainXMLError(.internalError, line: element.line, "Missing source path attribute for char device")
            }
            if type == .qemuVDAgent, let source {
                // libvirt's reading: each attribute required when its element is there.
                if let clipboard = source.element(named: "clipboard") {
                    guard clipboard[attribute: "copypaste"] != nil else {
                        throw DomainXMLError(.invalid, line: clipboard.line, "Missing required attribute 'copypaste' in element 'clipboard'")
                    }
                    vdagentClipboard = try AttributeValues.yesNo("copypaste", of: clipboard)
                }
                if let mouse = source.element(named: "mouse") {
                    guard let mode = mouse[attribute: "mode"] else {
                        throw DomainXMLError(.invalid, line: mouse.line, "Missing required attribute 'mode' in element 'mouse'")
                    }
                    guard mode == "client" || mode == "server" else {
                        throw DomainXMLError(.invalid, line: mouse.line, "Invalid value for attribute 'mode' in element 'mouse': '\(mode)'.")
                    }
                    vdagentClientMouse = mode == "client"
                }
            }
            if let log = element.element(named: "log") {
                logFile = log[attribute: "file"]
                logAppend = try AttributeValues.onOff("append", of: log)
            }
            if let address = element.element(named: "address"), address[attribute: "type"] == "virtio-serial" {
                guard let text = address[attribute: "port"], let value = Int(text), (1...30).contains(value) else {
                    throw DomainXMLError(.invalid, line: address.line, "Cannot parse <address> 'port' attribute")
                }
                port = value
            }
        }
    }
}

extension DomainDefinition.CharacterDevice {
    /// A `udp` device's `<source>`s, as the normaliser leaves them (at most one of each mode,
    /// each with its mode: ``DomainNormalizer/normalizeUDPSources(_:)``, libvirt's
    /// `virDomainChrSourceDefParseUDP`); the connect side's service (the port QEMU sends to) is
    /// required.
    mutating func readUDPSources(_ element: XMLElement) throws(DomainXMLError) {
        for source in element.elements(named: "source") {
            switch source[attribute: "mode"] {
            case "connect": (udpConnectHost, udpConnectService) = (source[attribute: "host"], source[attribute: "service"])
            case "bind": (udpBindHost, udpBindService) = (source[attribute: "host"], source[attribute: "service"])
            case let mode:
                throw DomainXMLError(.invalid, line: source.line, "Invalid value for attribute 'mode' in element 'source': '\(mode ?? "")'.")
            }
        }
        guard udpConnectService != nil else {
            throw DomainXMLError(.internalError, line: element.line, "Missing source service attribute for char device")
        }
    }
}

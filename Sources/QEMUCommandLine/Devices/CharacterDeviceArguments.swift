import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Serial ports as `isa-serial` devices (a console on serial port 0 shares it).
    mutating func addSerialPorts() throws(CommandLineError) {
        for (index, serial) in domain.devices.serials.enumerated() {
            guard let names = devices.characterDevice(.serial, index: index) else { continue }
            var backend = serial
            backend.path = names.path
            try addChardevOption(backend, id: names.chardev, name: "serial\(index)")
            var members: [(String, JSONValue)] = [
                ("driver", .string("isa-serial")), ("chardev", .string(names.chardev)), ("id", .string(names.alias)),
                ("index", .integer(Int64(serial.targetPort ?? index))),
            ]
            // An ISA address, as libvirt passes it: the I/O base, and the IRQ when given.
            if let address = serial.isaAddress {
                members.append(("iobase", .unsigned(UInt64(address.ioBase))))
                if address.irq > 0 { members.append(("irq", .unsigned(UInt64(address.irq)))) }
            }
            addDevice(members)
        }
    }

    /// virtio consoles: `virtconsole` ports, after the channels as libvirt orders them, so each
    /// takes the port QEMU gives it (the first console port 0, the console's; later ones the
    /// lowest port no channel holds).
    mutating func addVirtioConsoles() throws(CommandLineError) {
        for (index, console) in domain.devices.consoles.enumerated() where console.targetType == "virtio" {
            guard let names = devices.characterDevice(.console, index: index) else { continue }
            var backend = console
            if backend.type == .unix && backend.path == nil { backend.mode = "bind" }
            backend.path = names.path
            try addChardevOption(backend, id: names.chardev, name: "console\(index)")
            addDevice([("driver", .string("virtconsole")), ("chardev", .string(names.chardev)), ("id", .string(names.alias))])
        }
    }

    /// Channels as `virtserialport`s on the virtio-serial controller (the guest agent's among
    /// them); a unix channel without a path gets one in the domain's run directory.
    mutating func addChannels() throws(CommandLineError) {
        for index in domain.devices.channels.indices { try addChannel(at: index) }
    }

    /// The channel at `index`: its chardev and its port (`<address type='virtio-serial' port>`,
    /// else the position after the console's port 0).
    mutating func addChannel(at index: Int, forHotplug: Bool = false) throws(CommandLineError) {
        let channel = domain.devices.channels[index]
        if let forward = channel.guestForward {
            // A guestfwd channel is a user-mode network of its own whose guestfwd rule ends in
            // the channel's chardev (libvirt's qemuBuildChannelGuestfwdNetdevProps); plugged
            // live, the same two by `chardev-add` and `netdev_add`, and no device.
            guard let names = devices.characterDevice(.channel, index: index) else { return }
            try addChardev(channel, id: names.chardev, name: "channel\(index)", forHotplug: forHotplug)
            add("-netdev", json: .object([
                ("type", .string("user")),
                ("guestfwd", .array([.object([("str", .string("tcp:\(forward.address):\(forward.port)-chardev:\(names.chardev)"))])])),
                ("id", .string(names.alias)),
            ]))
            return
        }
        guard channel.targetType == "virtio" else { throw CommandLineError(.unsupported, "channel target '\(channel.targetType ?? "")' is not supported") }
        guard let names = devices.characterDevice(.channel, index: index) else { return }
        let id = names.chardev
        var backend = channel
        if backend.type == .unix && backend.path == nil { backend.mode = "bind" }
        backend.path = names.path
        try addChardev(backend, id: id, name: "channel\(index)", forHotplug: forHotplug)
        var members: [(String, JSONValue)] = [
            ("driver", .string("virtserialport")), ("bus", .string("virtio-serial0.0")), ("nr", .integer(Int64(channel.port ?? index + 1))), ("chardev", .string(id)),
            ("id", .string(names.alias)),
        ]
        if let name = channel.targetName { members.append(("name", .string(name))) }
        addDevice(members)
    }

    /// A channel's `-chardev`: the command line's form, or for hotplug the monitor's.
    private mutating func addChardev(_ device: DomainDefinition.CharacterDevice, id: String, name: String, forHotplug: Bool) throws(CommandLineError) {
        if forHotplug {
            let credentials = addChardevTLSCredentials(device, id: id)
            add("-chardev", json: try Self.chardevForMonitor(device, id: id, name: name, tlsCredentials: credentials))
        } else {
            try addChardevOption(device, id: id, name: name)
        }
    }

    /// A character device's `-chardev`, after the `tls-creds-x509` object of a TCP device that
    /// speaks TLS (its `tls`, else the daemon's `chardev_tls`).
    mutating func addChardevOption(_ device: DomainDefinition.CharacterDevice, id: String, name: String, spiceChannel: String = "vdagent") throws(CommandLineError) {
        let credentials = addChardevTLSCredentials(device, id: id)
        add("-chardev", try Self.chardev(device, id: id, name: name, spiceChannel: spiceChannel, tlsCredentials: credentials))
    }

    /// The `tls-creds-x509` object of a TCP character device that speaks TLS (libvirt's
    /// `obj<chardev>_tls0`: a server end when QEMU listens), added here; its id.
    private mutating func addChardevTLSCredentials(_ device: DomainDefinition.CharacterDevice, id: String) -> String? {
        guard device.type == .tcp, context.characterDeviceTLS.uses(device.tls) else { return nil }
        let object = "obj\(id)_tls0"
        addTLSCredentials(id: object, settings: context.characterDeviceTLS, listening: device.mode != "connect")
        return object
    }

    /// A character device's host side as QMP `chardev-add` takes it (hotplug): the same choices
    /// as ``chardev(_:id:name:)``, in the monitor's structure.
    static func chardevForMonitor(_ device: DomainDefinition.CharacterDevice, id: String, name: String, tlsCredentials: String? = nil) throws(CommandLineError) -> JSONValue {
        let listening = device.mode != "connect"
        let backend: (String, [(String, JSONValue)])
        switch device.type {
        case .pty: backend = ("pty", [])
        case .null: backend = ("null", [])
        case .file:
            guard let path = device.path else { throw CommandLineError(.unsupported, "\(name): a file character device needs a source path") }
            // Truncated unless `append='on'`, as libvirt opens it.
            backend = ("file", [("out", .string(path)), ("append", .bool(device.fileAppend ?? false))])
        case .unix:
            let address: JSONValue = .object([("type", .string("unix")), ("data", .object([("path", .string(device.path ?? "\(name).sock"))]))])
            backend = ("socket", [("addr", address), ("server", .bool(listening))] + (listening ? [("wait", .bool(false))] : []))
        case .tcp:
            guard let service = device.service else { throw CommandLineError(.unsupported, "\(name): a tcp character device needs a service (port)") }
            let address: JSONValue = .object([
                ("type", .string("inet")), ("data", .object([("host", .string(device.host ?? "127.0.0.1")), ("port", .string(service))])),
            ])
            let telnet: [(String, JSONValue)] = try Self.isTelnet(device, name: name) ? [("telnet", .bool(true))] : []
            backend = ("socket", [("addr", address)] + telnet + [("server", .bool(listening))] + (listening ? [("wait", .bool(false))] : [])
                + (tlsCredentials.map { [("tls-creds", .string($0))] } ?? []))
        case .udp:
            let ends = UDPEnds(device)
            let inet = { (host: String, port: String) -> JSONValue in
                .object([("type", .string("inet")), ("data", .object([("host", .string(host)), ("port", .string(port))]))])
            }
            backend = ("udp", [("remote", inet(ends.connectHost, ends.connectPort))]
                + (ends.hasLocal ? [("local", inet(ends.bindHost, ends.bindPort))] : []))
        case .pipe:
            guard let path = device.path else { throw CommandLineError(.unsupported, "\(name): a pipe character device needs a source path") }
            backend = ("pipe", [("device", .string(path))])
        case .dev:
            // A host serial or parallel port (QMP's `serial` and `parallel` backends).
            guard let path = device.path else { throw CommandLineError(.unsupported, "\(name): a host device character device needs a source path") }
            backend = (id.hasPrefix("charparallel") ? "parallel" : "serial", [("device", .string(path))])
        case .spicevmc: backend = ("spicevmc", [("type", .string("vdagent"))])
        case .qemuVDAgent:
            // QAPI's ChardevQemuVDAgent has no name (the command line's is unused).
            backend = ("qemu-vdagent", (device.vdagentClipboard.map { [("clipboard", .bool($0))] } ?? []) + (device.vdagentClientMouse.map { [("mouse", .bool($0))] } ?? []))
        case .vc: backend = ("vc", [])
        case .spiceport:
            // libvirt's words (qemuMonitorJSONAttachCharDevGetProps).
            throw CommandLineError(.unsupported, "Hotplug unsupported for char device type 'spiceport'")
        case .stdio, .nmdm, .dbus:
            throw CommandLineError(.unsupported, "\(name): character device type '\(device.type.rawValue)' is not supported")
        }
        let log: [(String, JSONValue)] = device.logFile.map { [("logfile", .string($0))] + (device.logAppend.map { [("logappend", .bool($0))] } ?? []) } ?? []
        return .object([("id", .string(id)), ("backend", .object([("type", .string(backend.0)), ("data", .object(backend.1 + log))]))])
    }

    /// Whether a TCP device speaks telnet (`<protocol type='telnet'>`); TLS needs certificates
    /// Corral does not manage for character devices.
    static func isTelnet(_ device: DomainDefinition.CharacterDevice, name: String) throws(CommandLineError) -> Bool {
        switch device.tcpProtocol {
        case nil: return false
        case "telnet"?: return true
        case let other?: throw CommandLineError(.unsupported, "\(name): TCP protocol '\(other)' is not supported (only raw and telnet)")
        }
    }

    /// The `-chardev` value of a character device's host side.
    /// A unix device's `path` is already chosen (``GuestDevices``); a `spicevmc` device is the
    /// SPICE channel `spiceChannel` (`vdagent` for a channel, `usbredir` for a redirected USB port).
    static func chardev(
        _ device: DomainDefinition.CharacterDevice, id: String, name: String, spiceChannel: String = "vdagent", tlsCredentials: String? = nil
    ) throws(CommandLineError) -> String {
        let backend = try chardevBackend(device, id: id, name: name, spiceChannel: spiceChannel, tlsCredentials: tlsCredentials)
        // `<log>`: QEMU copies the device's traffic into the file (libvirt's order, last).
        guard let logFile = device.logFile else { return backend }
        let log = [("logfile", logFile)] + (device.logAppend.map { [("logappend", $0 ? "on" : "off")] } ?? [])
        return backend + "," + QEMUKeyValue.render(log)
    }

    /// The `-chardev` value of a character device's host side without its log.
    static func chardevBackend(_ device: DomainDefinition.CharacterDevice, id: String, name: String, spiceChannel: String, tlsCredentials: String? = nil) throws(CommandLineError) -> String {
        let listening: [(String, String)] = device.mode == "connect" ? [] : [("server", "on"), ("wait", "off")]
        switch device.type {
        case .pty: return try QEMUKeyValue.render("pty", [("id", id)])
        case .null: return try QEMUKeyValue.render("null", [("id", id)])
        case .file:
            guard let path = device.path else { throw CommandLineError(.unsupported, "\(name): a file character device needs a source path") }
            // Truncated at start unless `append='on'`, as libvirt opens it (QEMU's default is off).
            let append = device.fileAppend.map { [("append", $0 ? "on" : "off")] } ?? []
            return try QEMUKeyValue.render("file", [("id", id), ("path", path)] + append)
        case .unix:
            return try QEMUKeyValue.render("socket", [("id", id), ("path", device.path ?? "\(name).sock")] + listening)
        case .tcp:
            guard let service = device.service else { throw CommandLineError(.unsupported, "\(name): a tcp character device needs a service (port)") }
            let telnet: [(String, String)] = try isTelnet(device, name: name) ? [("telnet", "on")] : []
            // libvirt's order (qemuBuildChardevCommand): the TLS credentials last.
            return try QEMUKeyValue.render("socket", [("id", id), ("host", device.host ?? "127.0.0.1"), ("port", service)] + telnet + listening
                + (tlsCredentials.map { [("tls-creds", $0)] } ?? []))
        case .udp:
            // libvirt's form: every key, empty when the XML does not give it.
            let ends = UDPEnds(device)
            return try QEMUKeyValue.render("udp", [
                ("id", id), ("host", device.udpConnectHost ?? ""), ("port", ends.connectPort), ("localaddr", device.udpBindHost ?? ""), ("localport", ends.bindPort),
            ])
        case .pipe:
            // A named pipe (QEMU opens PATH.in and PATH.out, else PATH itself).
            guard let path = device.path else { throw CommandLineError(.unsupported, "\(name): a pipe character device needs a source path") }
            return try QEMUKeyValue.render("pipe", [("id", id), ("path", path)])
        case .dev:
            // A host serial or parallel port, as libvirt passes it (`serial`, `parallel`: QEMU's
            // names for its tty and parport backends).
            guard let path = device.path else { throw CommandLineError(.unsupported, "\(name): a host device character device needs a source path") }
            return try QEMUKeyValue.render(id.hasPrefix("charparallel") ? "parallel" : "serial", [("id", id), ("path", path)])
        case .spicevmc:
            return try QEMUKeyValue.render("spicevmc", [("id", id), ("name", spiceChannel)])
        case .qemuVDAgent:
            // QEMU's own SPICE agent (clipboard sharing and mouse mode for VNC clients).
            let options = (device.vdagentClipboard.map { [("clipboard", $0 ? "on" : "off")] } ?? []) + (device.vdagentClientMouse.map { [("mouse", $0 ? "on" : "off")] } ?? [])
            return try QEMUKeyValue.render("qemu-vdagent", [("id", id), ("name", "vdagent")] + options)
        case .vc:
            // A text console of QEMU's own display (VNC, SPICE, SDL), switched to as a console.
            return try QEMUKeyValue.render("vc", [("id", id)])
        case .spiceport:
            // A SPICE port channel of this name (the guest needs SPICE graphics: checked at define).
            guard let channel = device.spicePortChannel else { throw CommandLineError(.unsupported, "\(name): a spiceport character device needs a source channel") }
            return try QEMUKeyValue.render("spiceport", [("id", id), ("name", channel)])
        case .stdio, .nmdm, .dbus:
            throw CommandLineError(.unsupported, "\(name): character device type '\(device.type.rawValue)' is not supported")
        }
    }
}

/// A `udp` character device's two ends with QEMU's defaults filled in: it sends to the connect
/// side (`localhost` when no host is given) from the bind side (any address, a port the kernel
/// picks, when not given).
struct UDPEnds {
    var connectHost: String
    var connectPort: String
    var bindHost: String
    var bindPort: String
    /// Whether the XML gives a bind side (QMP's `local`).
    var hasLocal: Bool

    init(_ device: DomainDefinition.CharacterDevice) {
        connectHost = device.udpConnectHost.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        connectPort = device.udpConnectService ?? ""
        bindHost = device.udpBindHost ?? ""
        bindPort = device.udpBindService ?? "0"
        hasLocal = device.udpBindHost != nil || device.udpBindService != nil
    }
}

import CorralJSON
import DomainXML

/// The devices of a domain as `-blockdev`, `-netdev`, `-chardev`, `-object` and `-device`
/// options, with libvirt's alias names as ids (or the user's `ua-…` alias).
enum DeviceArguments {
    static func add(to b: inout Builder) throws(CommandLineError) {
        let devices = b.domain.devices
        let machine = b.domain.os.machine ?? ""
        let q35 = machine.contains("q35")
        var bootIndex = 1
        let bootOrder = b.domain.os.bootDevices
        var bootAssigned: Set<String> = []
        func nextBoot(_ kind: String, explicit: Int?) -> Int? {
            if let explicit { return explicit }
            guard let position = bootOrder.firstIndex(of: kind), !bootAssigned.contains(kind) else { return nil }
            bootAssigned.insert(kind)
            _ = position
            defer { bootIndex += 1 }
            return bootOrder.count > 1 ? position + 1 : bootIndex
        }
        func device(_ members: [(String, JSONValue)]) -> QEMUOptionValue {
            var members = members
            members.removeAll { if case .null = $0.1 { return true } else { return false } }
            return b.capabilities.contains("device-json") ? .json(.object(members)) : .text(keyValue(members))
        }

        // Controllers that disks and channels need.
        let needsSCSI = devices.disks.contains { $0.targetBus == "scsi" }
        if needsSCSI { b.add("-device", device([("driver", .string("virtio-scsi-pci")), ("id", .string("scsi0"))])) }
        let needsSerialBus = devices.channels.contains { $0.targetType == "virtio" }
        if needsSerialBus { b.add("-device", device([("driver", .string("virtio-serial-pci")), ("id", .string("virtio-serial0"))])) }
        let needsUSB = devices.inputs.contains { $0.bus == "usb" }
        if needsUSB { b.add("-device", device([("driver", .string("qemu-xhci")), ("id", .string("usb"))])) }

        // Disks.
        for (index, disk) in devices.disks.enumerated() {
            let node = "libvirt-\(devices.disks.count - index)"
            guard let unit = DiskTarget.index(of: disk.targetDevice) else {
                throw CommandLineError(.unsupported, "invalid disk target '\(disk.targetDevice)'")
            }
            let alias: String
            var deviceMembers: [(String, JSONValue)]
            switch disk.targetBus {
            case "virtio":
                alias = "virtio-disk\(unit)"
                deviceMembers = [("driver", .string("virtio-blk-pci"))]
            case "sata", "ide":
                let controllerUnits = q35 || disk.targetBus == "sata" ? 1 : 2
                alias = disk.targetBus == "sata" ? "sata0-0-\(unit)" : "ide0-\(unit / 2)-\(unit % 2)"
                let bus = q35 || disk.targetBus == "sata" ? "ide.\(unit)" : "ide.\(unit / controllerUnits)"
                deviceMembers = [("driver", .string(disk.device == "cdrom" ? "ide-cd" : "ide-hd")), ("bus", .string(bus))]
                if !(q35 || disk.targetBus == "sata") { deviceMembers.append(("unit", .integer(Int64(unit % 2)))) }
            case "scsi":
                alias = "scsi0-0-0-\(unit)"
                deviceMembers = [("driver", .string(disk.device == "cdrom" ? "scsi-cd" : "scsi-hd")), ("bus", .string("scsi0.0")), ("channel", .integer(0)), ("scsi-id", .integer(0)), ("lun", .integer(Int64(unit)))]
            default:
                throw CommandLineError(.unsupported, "disk bus '\(disk.targetBus)' of \(disk.targetDevice) is not supported")
            }
            guard disk.type == "file" || disk.type == "block" else {
                throw CommandLineError(.unsupported, "disk type '\(disk.type)' of \(disk.targetDevice) is not supported")
            }
            if let source = disk.source {
                let storage: [(String, JSONValue)] = [
                    ("driver", .string(disk.type == "block" ? "host_device" : "file")), ("filename", .string(source)),
                    ("node-name", .string("\(node)-storage")), ("auto-read-only", .bool(true)), ("discard", .string("unmap")),
                ]
                let format: [(String, JSONValue)] = [
                    ("node-name", .string("\(node)-format")), ("read-only", .bool(disk.readonly)),
                    ("driver", .string(disk.format ?? "raw")), ("file", .string("\(node)-storage")),
                ]
                b.add("-blockdev", json: .object(storage))
                b.add("-blockdev", json: .object(format))
                deviceMembers.append(("drive", .string("\(node)-format")))
            } else if disk.device != "cdrom" {
                throw CommandLineError(.unsupported, "disk \(disk.targetDevice) has no source")
            }
            deviceMembers.append(("id", .string(disk.alias ?? alias)))
            if let boot = nextBoot(disk.device == "cdrom" ? "cdrom" : "hd", explicit: disk.bootOrder) { deviceMembers.append(("bootindex", .integer(Int64(boot)))) }
            b.add("-device", device(deviceMembers))
        }

        // Network.
        for (index, interface) in devices.interfaces.enumerated() {
            let netdev = "hostnet\(index)"
            switch interface.type {
            case "user":
                b.add("-netdev", json: .object([("type", .string("user")), ("id", .string(netdev))]))
            case "bridge":
                guard let bridge = interface.source else { throw CommandLineError(.unsupported, "bridge interface \(index) has no source bridge") }
                b.add("-netdev", json: .object([("type", .string("bridge")), ("br", .string(bridge)), ("id", .string(netdev))]))
            default:
                throw CommandLineError(.unsupported, "interface type '\(interface.type)' needs host networking that Corral does not manage; use type 'user' or 'bridge'")
            }
            let model = interface.model ?? "virtio"
            let driver = model == "virtio" ? "virtio-net-pci" : model
            var members: [(String, JSONValue)] = [("driver", .string(driver)), ("netdev", .string(netdev)), ("id", .string(interface.alias ?? "net\(index)"))]
            if let mac = interface.mac { members.append(("mac", .string(mac))) }
            if let boot = nextBoot("network", explicit: interface.bootOrder) { members.append(("bootindex", .integer(Int64(boot)))) }
            b.add("-device", device(members))
        }

        // Serial ports (consoles on serial port 0 share it).
        for (index, serial) in devices.serials.enumerated() {
            let id = "charserial\(index)"
            b.add("-chardev", try chardev(serial, id: id, runDirectory: b.context.runDirectory, name: "serial\(index)"))
            b.add("-device", device([("driver", .string("isa-serial")), ("chardev", .string(id)), ("id", .string(serial.alias ?? "serial\(index)")), ("index", .integer(Int64(serial.targetPort ?? index)))]))
        }
        for console in devices.consoles where console.targetType == "virtio" {
            throw CommandLineError(.unsupported, "virtio consoles are not supported yet (\(console.type))")
        }

        // Channels (virtio-serial ports, for the guest agent).
        for (index, channel) in devices.channels.enumerated() {
            guard channel.targetType == "virtio" else { throw CommandLineError(.unsupported, "channel target '\(channel.targetType ?? "")' is not supported") }
            let id = "charchannel\(index)"
            var unix = channel
            if unix.type == "unix" && unix.path == nil {
                unix.path = b.context.runDirectory + "/channel-\(channel.targetName ?? String(index)).sock"
                unix.mode = "bind"
            }
            b.add("-chardev", try chardev(unix, id: id, runDirectory: b.context.runDirectory, name: "channel\(index)"))
            var members: [(String, JSONValue)] = [("driver", .string("virtserialport")), ("bus", .string("virtio-serial0.0")), ("nr", .integer(Int64(index + 1))), ("chardev", .string(id)), ("id", .string(channel.alias ?? "channel\(index)"))]
            if let name = channel.targetName { members.append(("name", .string(name))) }
            b.add("-device", device(members))
        }

        // Input (PS/2 devices are built into x86 machines).
        for (index, input) in devices.inputs.enumerated() where input.bus != "ps2" {
            let driver: String
            switch (input.type, input.bus ?? "usb") {
            case ("tablet", "usb"): driver = "usb-tablet"
            case ("mouse", "usb"): driver = "usb-mouse"
            case ("keyboard", "usb"): driver = "usb-kbd"
            case ("tablet", "virtio"): driver = "virtio-tablet-pci"
            case ("mouse", "virtio"): driver = "virtio-mouse-pci"
            case ("keyboard", "virtio"): driver = "virtio-keyboard-pci"
            default: throw CommandLineError(.unsupported, "input \(input.type) on bus \(input.bus ?? "") is not supported")
            }
            var members: [(String, JSONValue)] = [("driver", .string(driver)), ("id", .string(input.alias ?? "input\(index)"))]
            if input.bus == "usb" || input.bus == nil { members.append(("bus", .string("usb.0"))) }
            b.add("-device", device(members))
        }

        // Graphics and video.
        if devices.graphics.isEmpty {
            b.add("-display", "none")
        }
        for graphics in devices.graphics {
            guard graphics.type == "vnc" else { throw CommandLineError(.unsupported, "graphics type '\(graphics.type)' is not supported (only vnc)") }
            let listen = graphics.listen ?? "127.0.0.1"
            let display: Int
            if let port = graphics.port, port >= 5900, !graphics.autoport { display = port - 5900 } else { display = b.context.vncDisplay ?? 0 }
            b.add("-vnc", try QEMUKeyValue.implied("\(listen):\(display)"))
        }
        for (index, video) in devices.videos.enumerated() {
            let driver: String
            switch video.model {
            case "vga": driver = "VGA"
            case "cirrus": driver = "cirrus-vga"
            case "virtio": driver = index == 0 ? "virtio-vga" : "virtio-gpu-pci"
            case "qxl": driver = index == 0 ? "qxl-vga" : "qxl"
            case "bochs": driver = "bochs-display"
            case "none": continue
            default: throw CommandLineError(.unsupported, "video model '\(video.model)' is not supported")
            }
            b.add("-device", device([("driver", .string(driver)), ("id", .string(video.alias ?? "video\(index)"))]))
        }

        // Sound.
        if !devices.sounds.isEmpty, b.capabilities.contains("audiodev") {
            b.add("-audiodev", json: .object([("id", .string("audio1")), ("driver", .string("none"))]))
        }
        for (index, sound) in devices.sounds.enumerated() {
            switch sound.model {
            case "ich6", "ich9":
                let id = sound.alias ?? "sound\(index)"
                b.add("-device", device([("driver", .string(sound.model == "ich9" ? "ich9-intel-hda" : "intel-hda")), ("id", .string(id))]))
                b.add("-device", device([("driver", .string("hda-duplex")), ("id", .string("\(id)-codec0")), ("bus", .string("\(id).0")), ("cad", .integer(0)), ("audiodev", .string("audio1"))]))
            case "ac97", "es1370", "sb16":
                b.add("-device", device([("driver", .string(sound.model == "ac97" ? "AC97" : sound.model == "es1370" ? "ES1370" : "sb16")), ("id", .string(sound.alias ?? "sound\(index)")), ("audiodev", .string("audio1"))]))
            default:
                throw CommandLineError(.unsupported, "sound model '\(sound.model)' is not supported")
            }
        }

        // Watchdog.
        for (index, watchdog) in devices.watchdogs.enumerated() {
            switch watchdog.model {
            case "i6300esb", "ib700": b.add("-device", device([("driver", .string(watchdog.model)), ("id", .string(watchdog.alias ?? "watchdog\(index)"))]))
            case "itco": break  // built into q35
            default: throw CommandLineError(.unsupported, "watchdog model '\(watchdog.model)' is not supported")
            }
            let action = watchdog.action == "destroy" ? "poweroff" : watchdog.action == "dump" ? "pause" : watchdog.action
            b.add("-action", QEMUKeyValue.render([("watchdog", action)]))
        }

        // Memory balloon.
        if let balloon = devices.memballoon, balloon.model == "virtio" {
            b.add("-device", device([("driver", .string("virtio-balloon-pci")), ("id", .string(balloon.alias ?? "balloon0"))]))
        }

        // RNG.
        for (index, rng) in devices.rngs.enumerated() {
            guard rng.model == "virtio", rng.backendModel == "random" else {
                throw CommandLineError(.unsupported, "rng model '\(rng.model)' with backend '\(rng.backendModel)' is not supported")
            }
            b.add("-object", json: .object([("qom-type", .string("rng-random")), ("id", .string("objrng\(index)")), ("filename", .string(rng.backendPath ?? "/dev/urandom"))]))
            b.add("-device", device([("driver", .string("virtio-rng-pci")), ("rng", .string("objrng\(index)")), ("id", .string(rng.alias ?? "rng\(index)"))]))
        }
    }

    static func chardev(_ device: DomainDefinition.CharacterDevice, id: String, runDirectory: String, name: String) throws(CommandLineError) -> String {
        switch device.type {
        case "pty": return try QEMUKeyValue.render("pty", [("id", id)])
        case "null": return try QEMUKeyValue.render("null", [("id", id)])
        case "file":
            guard let path = device.path else { throw CommandLineError(.unsupported, "\(name): a file character device needs a source path") }
            return try QEMUKeyValue.render("file", [("id", id), ("path", path), ("append", "on")])
        case "unix":
            let path = device.path ?? runDirectory + "/\(name).sock"
            return try QEMUKeyValue.render("socket", [("id", id), ("path", path)] + (device.mode == "connect" ? [] : [("server", "on"), ("wait", "off")]))
        case "tcp":
            guard let service = device.service else { throw CommandLineError(.unsupported, "\(name): a tcp character device needs a service (port)") }
            return try QEMUKeyValue.render("socket", [("id", id), ("host", device.host ?? "127.0.0.1"), ("port", service)] + (device.mode == "connect" ? [] : [("server", "on"), ("wait", "off")]))
        default:
            throw CommandLineError(.unsupported, "\(name): character device type '\(device.type)' is not supported")
        }
    }

    /// The `key=value,…` form of a device, for emulators without JSON `-device`.
    static func keyValue(_ members: [(String, JSONValue)]) -> String {
        members.map { key, value -> String in
            let text: String
            switch value {
            case .string(let s): text = QEMUKeyValue.escape(s)
            case .bool(let b): text = b ? "on" : "off"
            case .number(let n): text = n.text
            default: text = value.description
            }
            return key == "driver" ? text : "\(key)=\(text)"
        }.joined(separator: ",")
    }
}

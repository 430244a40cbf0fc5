import XMLTree

extension DomainDefinition {
    /// Reads the typed view of a normalised `<domain>` element.
    init(normalized root: XMLElement, qemu: QEMUNamespace) {
        func text(_ name: String) -> String? { root.element(named: name)?.text }
        type = root[attribute: "type"] ?? "qemu"
        name = text("name") ?? ""
        uuid = text("uuid") ?? ""
        title = text("title")
        description = text("description")
        memoryKiB = UInt64(text("memory") ?? "") ?? 0
        currentMemoryKiB = UInt64(text("currentMemory") ?? "") ?? memoryKiB
        vcpus = Int(text("vcpu") ?? "") ?? 1
        let osElement = root.element(named: "os") ?? XMLElement(name: "os")
        let typeElement = osElement.element(named: "type")
        os = OperatingSystem(
            type: typeElement?.text ?? "hvm",
            arch: typeElement?[attribute: "arch"] ?? "x86_64",
            machine: typeElement?[attribute: "machine"],
            bootDevices: osElement.elements(named: "boot").compactMap { $0[attribute: "dev"] },
            kernel: osElement.element(named: "kernel")?.text,
            initrd: osElement.element(named: "initrd")?.text,
            cmdline: osElement.element(named: "cmdline")?.text,
            loader: osElement.element(named: "loader").map { Loader(path: $0.text, readonly: $0[attribute: "readonly"] == "yes", type: $0[attribute: "type"]) },
            nvram: osElement.element(named: "nvram")?.text
        )
        features = root.element(named: "features")?.elements.map(\.name) ?? []
        cpu = root.element(named: "cpu").map { cpu in
            CPU(mode: cpu[attribute: "mode"], model: cpu.element(named: "model")?.text, topology: cpu.element(named: "topology").map { t in
                Topology(
                    sockets: Int(t[attribute: "sockets"] ?? "1") ?? 1, dies: Int(t[attribute: "dies"] ?? "1") ?? 1,
                    cores: Int(t[attribute: "cores"] ?? "1") ?? 1, threads: Int(t[attribute: "threads"] ?? "1") ?? 1)
            })
        }
        clockOffset = root.element(named: "clock")?[attribute: "offset"] ?? "utc"
        timers = root.element(named: "clock")?.elements(named: "timer").map {
            Timer(name: $0[attribute: "name"] ?? "", tickpolicy: $0[attribute: "tickpolicy"], present: $0[attribute: "present"].map { $0 == "yes" })
        } ?? []
        onPoweroff = text("on_poweroff") ?? "destroy"
        onReboot = text("on_reboot") ?? "restart"
        onCrash = text("on_crash") ?? "destroy"
        self.qemu = qemu
        devices = Devices()
        guard let devicesElement = root.element(named: "devices") else { return }
        devices.emulator = devicesElement.element(named: "emulator")?.text
        for device in devicesElement.elements where device.namespace == nil {
            let alias = device.element(named: "alias")?[attribute: "name"]
            let bootOrder = device.element(named: "boot")?[attribute: "order"].flatMap { Int($0) }
            switch device.name {
            case "disk":
                let source = device.element(named: "source")
                devices.disks.append(Disk(
                    type: device[attribute: "type"] ?? "file",
                    device: device[attribute: "device"] ?? "disk",
                    format: device.element(named: "driver")?[attribute: "type"],
                    source: source?[attribute: "file"] ?? source?[attribute: "dev"],
                    targetDevice: device.element(named: "target")?[attribute: "dev"] ?? "",
                    targetBus: device.element(named: "target")?[attribute: "bus"] ?? "",
                    readonly: device.element(named: "readonly") != nil,
                    bootOrder: bootOrder, alias: alias))
            case "controller":
                devices.controllers.append(Controller(
                    type: device[attribute: "type"] ?? "", index: Int(device[attribute: "index"] ?? "0") ?? 0,
                    model: device[attribute: "model"], alias: alias))
            case "interface":
                let source = device.element(named: "source")
                devices.interfaces.append(Interface(
                    type: device[attribute: "type"] ?? "user",
                    source: source?[attribute: "network"] ?? source?[attribute: "bridge"] ?? source?[attribute: "dev"],
                    sourceMode: source?[attribute: "mode"],
                    model: device.element(named: "model")?[attribute: "type"],
                    mac: device.element(named: "mac")?[attribute: "address"],
                    bootOrder: bootOrder, alias: alias))
            case "serial", "console", "channel":
                let source = device.element(named: "source")
                let target = device.element(named: "target")
                let character = CharacterDevice(
                    type: device[attribute: "type"] ?? "pty",
                    path: source?[attribute: "path"], mode: source?[attribute: "mode"],
                    host: source?[attribute: "host"], service: source?[attribute: "service"],
                    targetType: target?[attribute: "type"], targetPort: target?[attribute: "port"].flatMap { Int($0) },
                    targetName: target?[attribute: "name"], alias: alias)
                switch device.name {
                case "serial": devices.serials.append(character)
                case "console": devices.consoles.append(character)
                default: devices.channels.append(character)
                }
            case "input":
                devices.inputs.append(Input(type: device[attribute: "type"] ?? "", bus: device[attribute: "bus"], alias: alias))
            case "graphics":
                devices.graphics.append(Graphics(
                    type: device[attribute: "type"] ?? "", port: device[attribute: "port"].flatMap { Int($0) },
                    autoport: device[attribute: "autoport"] == "yes", listen: device[attribute: "listen"], alias: alias))
            case "video":
                let model = device.element(named: "model")
                devices.videos.append(Video(
                    model: model?[attribute: "type"] ?? "vga", vram: model?[attribute: "vram"].flatMap { Int($0) },
                    heads: model?[attribute: "heads"].flatMap { Int($0) }, alias: alias))
            case "sound":
                devices.sounds.append(Sound(model: device[attribute: "model"] ?? "", alias: alias))
            case "memballoon":
                devices.memballoon = MemoryBalloon(model: device[attribute: "model"] ?? "virtio", alias: alias)
            case "rng":
                let backend = device.element(named: "backend")
                devices.rngs.append(RandomNumberGenerator(
                    model: device[attribute: "model"] ?? "virtio", backendModel: backend?[attribute: "model"] ?? "random",
                    backendPath: backend?.text.isEmpty == false ? backend?.text : nil, alias: alias))
            case "watchdog":
                devices.watchdogs.append(Watchdog(model: device[attribute: "model"] ?? "", action: device[attribute: "action"] ?? "reset", alias: alias))
            default:
                continue
            }
        }
    }
}

import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// USB and virtio input devices (PS/2 devices are built into x86 machines).
    mutating func addInputs() throws(CommandLineError) {
        for (index, input) in domain.devices.inputs.enumerated() where input.bus != .ps2 { try addInput(at: index) }
    }

    /// An evdev input: QEMU's `input-linux` object reading the host's event device (libvirt's
    /// `qemuBuildInputEvdevProps`).
    mutating func addEvdevInput(_ input: DomainDefinition.Input, alias: String) throws(CommandLineError) {
        guard let device = input.hostDevice else { throw CommandLineError(.unsupported, "Missing evdev path for input device") }
        var members: [(String, JSONValue)] = [("qom-type", .string("input-linux")), ("id", .string(alias)), ("evdev", .string(device))]
        if let repeatKeys = input.repeatKeys { members.append(("repeat", .bool(repeatKeys))) }
        if input.grabsAll { members.append(("grab_all", .bool(true))) }
        if let toggle = input.grabToggle { members.append(("grab-toggle", .string(toggle.rawValue))) }
        add("-object", json: .object(members))
    }

    /// The USB or virtio input device at `index` (libvirt's `inputN`).
    mutating func addInput(at index: Int) throws(CommandLineError) {
        let input = domain.devices.inputs[index]
        if input.type == .evdev {
            try addEvdevInput(input, alias: DeviceAliases.positional("input", given: input.alias, position: index))
            return
        }
        let driver: String
        switch (input.type, input.bus ?? .usb) {
        case (.tablet, .usb): driver = "usb-tablet"
        case (.mouse, .usb): driver = "usb-mouse"
        case (.keyboard, .usb): driver = "usb-kbd"
        case (.tablet, .virtio): driver = "virtio-tablet-pci"
        case (.mouse, .virtio): driver = "virtio-mouse-pci"
        case (.keyboard, .virtio): driver = "virtio-keyboard-pci"
        case (.passthrough, .virtio): driver = "virtio-input-host-pci"
        default: throw CommandLineError(.unsupported, "input \(input.type.rawValue) on bus \(input.bus?.rawValue ?? "") is not supported")
        }
        let virtio = input.bus == .virtio ? Self.virtioOptionMembers(input.virtio) : []
        var members: [(String, JSONValue)] = [("driver", .string(driver))] + virtio + [("id", .string(DeviceAliases.positional("input", given: input.alias, position: index)))]
        if input.type == .passthrough, let device = input.hostDevice { members.append(("evdev", .string(device))) }
        if input.bus == .usb || input.bus == nil {
            members += usbPlacement(input.usbAddress)
        } else {
            members += pciPlacement(input.pciAddress)
        }
        addDevice(members)
    }

    /// A USB device's `bus` (`usb.0`, or the bus of the controller its address names) and,
    /// when the address gives one, its `port`, as libvirt writes them.
    func usbPlacement(_ address: DomainDefinition.USBAddress?) -> [(String, JSONValue)] {
        guard let address else { return [("bus", .string("usb.0"))] }
        let alias = domain.devices.controllers.first { $0.type == .usb && $0.index == address.bus && $0.masterStartPort == nil }?.alias
            ?? (address.bus == 0 ? "usb" : "usb\(address.bus)")
        return [("bus", .string(alias + ".0")), ("port", .string(address.port))]
    }
}

import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// USB and virtio input devices (PS/2 devices are built into x86 machines).
    mutating func addInputs() throws(CommandLineError) {
        for (index, input) in domain.devices.inputs.enumerated() where input.bus != .ps2 {
            let driver: String
            switch (input.type, input.bus ?? .usb) {
            case (.tablet, .usb): driver = "usb-tablet"
            case (.mouse, .usb): driver = "usb-mouse"
            case (.keyboard, .usb): driver = "usb-kbd"
            case (.tablet, .virtio): driver = "virtio-tablet-pci"
            case (.mouse, .virtio): driver = "virtio-mouse-pci"
            case (.keyboard, .virtio): driver = "virtio-keyboard-pci"
            default: throw CommandLineError(.unsupported, "input \(input.type.rawValue) on bus \(input.bus?.rawValue ?? "") is not supported")
            }
            var members: [(String, JSONValue)] = [("driver", .string(driver)), ("id", .string(input.alias ?? "input\(index)"))]
            if input.bus == .usb || input.bus == nil { members.append(("bus", .string("usb.0"))) }
            addDevice(members)
        }
    }
}

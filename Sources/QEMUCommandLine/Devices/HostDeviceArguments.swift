import CorralJSON
import DomainXML

extension Builder {
    /// Host devices, after the redirected USB ports as libvirt puts them: `usb-host` for a USB
    /// device (`hostdevice` naming its node under `/dev/bus/usb`, or none for a missing optional
    /// one) and `vfio-pci` for a PCI function, each `hostdevN` unless the user named it.
    mutating func addHostDevices() throws(CommandLineError) {
        let aliases = DeviceAliases.counted("hostdev", given: domain.devices.hostDevices.map(\.alias))
        for (index, hostDevice) in domain.devices.hostDevices.enumerated() {
            let alias = aliases[index]
            var members: [(String, JSONValue)]
            switch (hostDevice.type, context.hostDeviceBindings[index]) {
            case (.usb, .usb(let bus, let device)?):
                members = [("driver", .string("usb-host")), ("hostdevice", .string(Self.usbDeviceNode(bus: bus, device: device))), ("id", .string(alias))]
            case (.usb, .usbMissing?):
                members = [("driver", .string("usb-host")), ("id", .string(alias))]
            case (.pci, .pci?):
                guard let host = hostDevice.hostPCIAddress else { throw CommandLineError(.unsupported, "the PCI host device has no address") }
                members = [("driver", .string("vfio-pci")), ("host", .string(host.description)), ("id", .string(alias))]
            default:
                throw CommandLineError(.unsupported, "host device \(index) (\(hostDevice.type.rawValue)) was not found on the host before the start")
            }
            if let order = hostDevice.bootOrder { members.append(("bootindex", .integer(Int64(order)))) }
            if hostDevice.type == .usb {
                members += usbPlacement(hostDevice.usbAddress)
            } else {
                members += pciPlacement(hostDevice.pciAddress, acpiIndex: hostDevice.acpiIndex)
                // The option ROM as libvirt passes it: its BAR, then its file ("" loads none).
                if let bar = hostDevice.romBar { members.append(("rombar", .integer(bar ? 1 : 0))) }
                if hostDevice.romEnabled == false {
                    members.append(("romfile", .string("")))
                } else if let file = hostDevice.romFile {
                    members.append(("romfile", .string(file)))
                }
            }
            addDevice(members)
        }
    }

    /// The device node of the USB device at `bus`/`device` (`/dev/bus/usb/001/004`).
    static func usbDeviceNode(bus: Int, device: Int) -> String {
        func padded(_ number: Int) -> String { String(repeating: "0", count: max(0, 3 - String(number).count)) + String(number) }
        return "/dev/bus/usb/\(padded(bus))/\(padded(device))"
    }
}

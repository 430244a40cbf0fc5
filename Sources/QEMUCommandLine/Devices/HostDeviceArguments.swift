import CorralJSON
import DomainXML

extension Builder {
    /// Host devices, after the redirected USB ports as libvirt puts them: `usb-host` for a USB
    /// device (`hostdevice` naming its node under `/dev/bus/usb`, or none for a missing optional
    /// one) and `vfio-pci` for a PCI function, each `hostdevN` unless the user named it.
    mutating func addHostDevices() throws(CommandLineError) {
        let aliases = DeviceAliases.counted("hostdev", given: domain.devices.hostDevices.map(\.alias))
        // SCSI devices' block nodes are numbered after the disks' (libvirt's `libvirt-N-backend`).
        var nextNode = devices.nextNodeIndex
        for (index, hostDevice) in domain.devices.hostDevices.enumerated() {
            let alias = aliases[index]
            var members: [(String, JSONValue)]
            if hostDevice.type == .scsi {
                try addSCSIHostDevice(hostDevice, index: index, alias: alias, node: "libvirt-\(nextNode)-backend")
                nextNode += 1
                continue
            }
            switch (hostDevice.type, context.hostDeviceBindings[index]) {
            case (.usb, .usb(let bus, let device)?):
                members = [("driver", .string("usb-host")), ("hostdevice", .string(Self.usbDeviceNode(bus: bus, device: device))), ("id", .string(alias))]
            case (.usb, .usbMissing?):
                members = [("driver", .string("usb-host")), ("id", .string(alias))]
            case (.pci, .pci?):
                guard let host = hostDevice.hostPCIAddress else { throw CommandLineError(.unsupported, "the PCI host device has no address") }
                members = [("driver", .string("vfio-pci")), ("host", .string(host.description)), ("id", .string(alias))]
            case (.mdev, .mediated?):
                // libvirt's form (qemuBuildHostdevMediatedDevProps): a device with a ramfb boot
                // display cannot be unplugged, hence QEMU's `vfio-pci-nohotplug`.
                guard let mediated = hostDevice.mediated, mediated.model == .vfioPCI else {
                    throw CommandLineError(.unsupported, "mediated device \(index) is not a vfio-pci device")
                }
                members = [("driver", .string(mediated.ramfb == true ? "vfio-pci-nohotplug" : "vfio-pci")), ("id", .string(alias)),
                           ("sysfsdev", .string("/sys/bus/mdev/devices/" + mediated.uuid))]
                if let display = mediated.display { members.append(("display", .string(display ? "on" : "off"))) }
                if mediated.ramfb == true { members.append(("ramfb", .bool(true))) }
            default:
                throw CommandLineError(.unsupported, "host device \(index) (\(hostDevice.type.rawValue)) was not found on the host before the start")
            }
            if let order = hostDevice.bootOrder { members.append(("bootindex", .integer(Int64(order)))) }
            // libvirt's reading of guestReset (qemuBuildUSBHostdevDevProps).
            switch hostDevice.usb?.guestReset {
            case .off?: members.append(("guest-reset", .bool(false)))
            case .uninitialized?: members += [("guest-reset", .bool(true)), ("guest-resets-all", .bool(false))]
            case .on?: members += [("guest-reset", .bool(true)), ("guest-resets-all", .bool(true))]
            case nil: break
            }
            if hostDevice.type == .mdev {
                members += pciPlacement(hostDevice.pciAddress, acpiIndex: hostDevice.acpiIndex)
            } else if hostDevice.type == .usb {
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

    /// A SCSI host device as libvirt gives it (`qemuBuildHostdevSCSICommandLine`): its block
    /// node — the host's SCSI generic node, or QEMU's iSCSI client with the password of its
    /// `<auth>` in a secret object — then a `scsi-generic` device on its controller (a SCSI id
    /// on an LSI controller; a channel, target and LUN on virtio-scsi).
    mutating func addSCSIHostDevice(_ hostDevice: DomainDefinition.HostDevice, index: Int, alias: String, node: String) throws(CommandLineError) {
        guard let drive = hostDevice.driveAddress else { throw CommandLineError(.unsupported, "SCSI host device \(index) has no drive address") }
        var storage: [(String, JSONValue)]
        switch (context.hostDeviceBindings[index], hostDevice.iscsi) {
        case (.scsiGeneric(let path)?, nil):
            storage = [("driver", .string("host_device")), ("filename", .string(path))]
        case (.iscsi(let password)?, let source?):
            var secret: String?
            if source.authentication != nil {
                guard let password else { throw CommandLineError(.unsupported, "the secret of host device \(index)'s <auth> was not read") }
                secret = node + "-secret0"
                addSecret(id: node + "-secret0", value: password)
            }
            storage = try networkStorageMembers(source, target: alias, storageNode: node, authSecret: secret)
        default:
            throw CommandLineError(.unsupported, "host device \(index) (scsi) was not found on the host before the start")
        }
        add("-blockdev", json: .object(storage + [("node-name", .string(node)), ("read-only", .bool(hostDevice.readonly))]))
        var members: [(String, JSONValue)] = [("driver", .string("scsi-generic")), ("drive", .string(node)), ("id", .string(alias)), ("bus", .string("scsi\(drive.controller).0"))]
        if domain.devices.isLSIController(drive.controller) {
            members.append(("scsi-id", .integer(Int64(drive.unit))))
        } else {
            members += [("channel", .integer(Int64(drive.bus))), ("scsi-id", .integer(Int64(drive.target))), ("lun", .integer(Int64(drive.unit)))]
        }
        if let order = hostDevice.bootOrder { members.append(("bootindex", .integer(Int64(order)))) }
        addDevice(members)
    }

    /// The device node of the USB device at `bus`/`device` (`/dev/bus/usb/001/004`).
    static func usbDeviceNode(bus: Int, device: Int) -> String {
        func padded(_ number: Int) -> String { String(repeating: "0", count: max(0, 3 - String(number).count)) + String(number) }
        return "/dev/bus/usb/\(padded(bus))/\(padded(device))"
    }
}

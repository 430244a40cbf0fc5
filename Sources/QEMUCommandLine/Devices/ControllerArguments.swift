import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// The controllers other devices need: virtio-scsi for SCSI disks, virtio-serial for virtio
    /// channels and consoles, an xHCI controller for USB input.
    mutating func addImplicitControllers() {
        let devices = domain.devices
        if devices.disks.contains(where: { $0.targetBus == .scsi }) {
            addDevice([("driver", .string("virtio-scsi-pci")), ("id", .string("scsi0"))])
        }
        if devices.channels.contains(where: { $0.targetType == "virtio" }) || devices.consoles.contains(where: { $0.targetType == "virtio" }) {
            addDevice([("driver", .string("virtio-serial-pci")), ("id", .string("virtio-serial0"))])
        }
        if devices.inputs.contains(where: { $0.bus == .usb }) && !devices.controllers.contains(where: { $0.type == .usb }) {
            addDevice([("driver", .string("qemu-xhci")), ("id", .string("usb"))])
        }
    }

    /// libvirt's USB controller models and the QEMU devices they are.
    static let usbControllerDevices: [String: String] = [
        "piix3-uhci": "piix3-usb-uhci", "piix4-uhci": "piix4-usb-uhci", "ehci": "usb-ehci", "ich9-ehci1": "ich9-usb-ehci1",
        "ich9-uhci1": "ich9-usb-uhci1", "ich9-uhci2": "ich9-usb-uhci2", "ich9-uhci3": "ich9-usb-uhci3", "vt82c686b-uhci": "vt82c686b-usb-uhci",
        "pci-ohci": "pci-ohci", "nec-xhci": "nec-usb-xhci", "qemu-xhci": "qemu-xhci",
    ]

    /// The domain's USB controllers: a controller of index N is `usb` (N = 0) or `usbN`; a
    /// companion (`<master startport>`) joins the bus of the controller of its index, from that
    /// port, as libvirt's command line does. `model='none'` means no USB at all.
    mutating func addUSBControllers() throws(CommandLineError) {
        for controller in domain.devices.controllers where controller.type == .usb {
            let model = controller.model ?? "piix3-uhci"
            if model == "none" { continue }
            guard let device = Self.usbControllerDevices[model] else {
                throw CommandLineError(.unsupported, "USB controller model '\(model)' is not supported")
            }
            let alias = controller.alias ?? (controller.index == 0 ? "usb" : "usb\(controller.index)")
            if let port = controller.masterStartPort {
                addDevice([("driver", .string(device)), ("masterbus", .string(alias + ".0")), ("firstport", .integer(Int64(port)))])
            } else {
                addDevice([("driver", .string(device)), ("id", .string(alias))])
            }
        }
    }
}

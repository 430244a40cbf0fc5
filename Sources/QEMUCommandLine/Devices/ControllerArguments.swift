import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// The controllers other devices need: virtio-scsi for SCSI disks, virtio-serial for virtio
    /// channels, an xHCI controller for USB input.
    mutating func addImplicitControllers() {
        let devices = domain.devices
        if devices.disks.contains(where: { $0.targetBus == .scsi }) {
            addDevice([("driver", .string("virtio-scsi-pci")), ("id", .string("scsi0"))])
        }
        if devices.channels.contains(where: { $0.targetType == "virtio" }) {
            addDevice([("driver", .string("virtio-serial-pci")), ("id", .string("virtio-serial0"))])
        }
        if devices.inputs.contains(where: { $0.bus == .usb }) {
            addDevice([("driver", .string("qemu-xhci")), ("id", .string("usb"))])
        }
    }
}

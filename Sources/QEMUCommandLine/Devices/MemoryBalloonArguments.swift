import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// The virtio memory balloon.
    mutating func addMemoryBalloon() {
        if let id = devices.balloon {
            addDevice([("driver", .string("virtio-balloon-pci")), ("id", .string(id))] + pciPlacement(domain.devices.memballoon?.pciAddress))
        }
    }
}

import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// The virtio memory balloon.
    mutating func addMemoryBalloon() {
        if let balloon = domain.devices.memballoon, balloon.model == .virtio {
            addDevice([("driver", .string("virtio-balloon-pci")), ("id", .string(balloon.alias ?? "balloon0"))])
        }
    }
}

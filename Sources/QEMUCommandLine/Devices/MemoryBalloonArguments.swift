import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// The virtio memory balloon.
    mutating func addMemoryBalloon() {
        if let id = devices.balloon {
            let balloon = domain.devices.memballoon
            var members: [(String, JSONValue)] = [("driver", .string(Self.balloonDevice(balloon?.model)))] + Self.virtioOptionMembers(balloon?.virtio ?? .init()) + [("id", .string(id))] + pciPlacement(balloon?.pciAddress)
            if let autodeflate = balloon?.autodeflate { members.append(("deflate-on-oom", .bool(autodeflate == .on))) }
            if let reporting = balloon?.freePageReporting { members.append(("free-page-reporting", .bool(reporting == .on))) }
            addDevice(members)
        }
    }

    /// QEMU's balloon device of `model`.
    static func balloonDevice(_ model: DomainDefinition.MemoryBalloon.Model?) -> String {
        switch model ?? .virtio {
        case .virtioTransitional: VirtioModel.virtioTransitional.device("virtio-balloon-pci")
        case .virtioNonTransitional: VirtioModel.virtioNonTransitional.device("virtio-balloon-pci")
        case .virtio, .xen, .none: "virtio-balloon-pci"
        }
    }
}

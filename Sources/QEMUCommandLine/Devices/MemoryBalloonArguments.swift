import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// The virtio memory balloon.
    mutating func addMemoryBalloon() {
        if let id = devices.balloon {
            let balloon = domain.devices.memballoon
            var members: [(String, JSONValue)] = [("driver", .string((balloon.flatMap { VirtioModel(rawValue: $0.model.rawValue) } ?? .virtio).device("virtio-balloon-pci")))] + Self.virtioOptionMembers(balloon?.virtio ?? .init()) + [("id", .string(id))] + pciPlacement(balloon?.pciAddress)
            if let autodeflate = balloon?.autodeflate { members.append(("deflate-on-oom", .bool(autodeflate == .on))) }
            if let reporting = balloon?.freePageReporting { members.append(("free-page-reporting", .bool(reporting == .on))) }
            addDevice(members)
        }
    }
}

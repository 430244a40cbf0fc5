import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Video cards; the first virtio or QXL card is the VGA-compatible one.
    mutating func addVideos() throws(CommandLineError) {
        for (index, video) in domain.devices.videos.enumerated() {
            let driver: String
            switch video.model {
            case .vga: driver = "VGA"
            case .cirrus: driver = "cirrus-vga"
            case .virtio: driver = index == 0 ? "virtio-vga" : "virtio-gpu-pci"
            case .qxl: driver = index == 0 ? "qxl-vga" : "qxl"
            case .bochs: driver = "bochs-display"
            case .none: continue
            case .vmvga, .xen, .vbox, .parallels, .gop, .ramfb:
                throw CommandLineError(.unsupported, "video model '\(video.model.rawValue)' is not supported")
            }
            addDevice([("driver", .string(driver)), ("id", .string(video.alias ?? "video\(index)"))])
        }
    }
}

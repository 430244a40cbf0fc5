import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Video cards; the first virtio or QXL card is the VGA-compatible one.
    mutating func addVideos() throws(CommandLineError) {
        for (index, video) in domain.devices.videos.enumerated() {
            guard CommandLineSupport.videoModels.contains(video.model) else {
                throw CommandLineError(.unsupported, "video model '\(video.model.rawValue)' is not supported")
            }
            guard let primary = CommandLineSupport.videoDevice(video.model) else { continue }
            // Secondary virtio and QXL cards are not VGA-compatible.
            let driver = index == 0 ? primary : video.model == .virtio ? "virtio-gpu-pci" : video.model == .qxl ? "qxl" : primary
            addDevice([("driver", .string(driver)), ("id", .string(video.alias ?? "video\(index)"))] + pciPlacement(video.pciAddress))
        }
    }
}

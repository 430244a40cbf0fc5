import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Video cards; the first virtio or QXL card is the VGA-compatible one.
    /// libvirt's memory and head properties of a card: QXL's sizes in bytes (and MiB), VGA's
    /// and bochs' video memory, virtio's outputs.
    static func videoProperties(_ video: DomainDefinition.Video) -> [(String, JSONValue)] {
        var properties: [(String, JSONValue)] = []
        switch video.model {
        case .qxl:
            if let heads = video.heads { properties.append(("max_outputs", .integer(Int64(heads)))) }
            if let ram = video.ram { properties.append(("ram_size", .integer(Int64(ram) * 1024))) }
            if let vram = video.vram { properties.append(("vram_size", .integer(Int64(vram) * 1024))) }
            properties.append(("vram64_size_mb", .integer(Int64((video.vram64 ?? 0) / 1024))))
            if let vgamem = video.vgamem { properties.append(("vgamem_mb", .integer(Int64(vgamem / 1024)))) }
        case .vga, .vmvga:
            if let vram = video.vram { properties.append(("vgamem_mb", .integer(Int64(vram / 1024)))) }
        case .bochs:
            if let vram = video.vram { properties.append(("vgamem", .integer(Int64(vram) * 1024))) }
        case .virtio:
            if let heads = video.heads { properties.append(("max_outputs", .integer(Int64(heads)))) }
        default:
            break
        }
        return properties
    }

    mutating func addVideos() throws(CommandLineError) {
        for (index, video) in domain.devices.videos.enumerated() {
            guard CommandLineSupport.videoModels.contains(video.model) else {
                throw CommandLineError(.unsupported, "video model '\(video.model.rawValue)' is not supported")
            }
            guard let primary = CommandLineSupport.videoDevice(video.model) else { continue }
            // Secondary virtio and QXL cards are not VGA-compatible.
            var driver = index == 0 ? primary : video.model == .virtio ? "virtio-gpu-pci" : video.model == .qxl ? "qxl" : primary
            // A virtio card with 3D acceleration: QEMU's OpenGL (virgl) variant of the same card.
            if video.model == .virtio && video.accelerated3D == true { driver = index == 0 ? "virtio-vga-gl" : "virtio-gpu-gl-pci" }
            let virtio = video.model == .virtio ? Self.virtioOptionMembers(video.virtio) : []
            // ramfb is a system device: no bus, no address (libvirt refuses one).
            let placement = video.model == .ramfb ? [] : pciPlacement(video.pciAddress, acpiIndex: video.acpiIndex)
            addDevice([("driver", .string(driver))] + virtio + [("id", .string(DeviceAliases.positional("video", given: video.alias, position: index)))] + Self.videoProperties(video) + placement)
        }
    }
}

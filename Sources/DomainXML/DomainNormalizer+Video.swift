import XMLTree

extension DomainNormalizer {
    /// libvirt's order of a video `<model>`'s attributes.
    static let videoModelAttributeOrder = ["type", "ram", "vram", "vram64", "vgamem", "heads", "primary", "blob"]

    /// libvirt's video memory defaults in KiB (`virDomainVideoDefaultRAM`): VGA-like cards
    /// 16 MiB, QXL 64 MiB; others none.
    static func defaultVideoMemory(_ type: String) -> Int? {
        switch type {
        case "vga", "cirrus", "vmvga", "bochs": 16 * 1024
        case "qxl": 64 * 1024
        default: nil
        }
    }

    /// A `<video>` as libvirt completes it: the model's type (cirrus, QEMU's on x86 when none is
    /// given), its video memory, QXL's RAM and VGA memory, one head, and the first card primary.
    static func normalizeVideo(_ device: inout XMLElement) {
        if device.element(named: "model") == nil { device.children.insert(.element(element("model")), at: 0) }
        device.updateElements { model in
            guard model.name == "model", model.namespace == nil else { return }
            if model[attribute: "type"] == nil { model[attribute: "type"] = "cirrus" }
            let type = model[attribute: "type"] ?? "cirrus"
            if type == "none" { return }
            if let memory = defaultVideoMemory(type) {
                if model[attribute: "vram"] == nil { model[attribute: "vram"] = String(memory) }
                if type == "qxl" {
                    if model[attribute: "ram"] == nil { model[attribute: "ram"] = String(memory) }
                    if model[attribute: "vgamem"] == nil { model[attribute: "vgamem"] = "16384" }
                }
            }
            if model[attribute: "heads"] == nil { model[attribute: "heads"] = "1" }
            orderAttributes(&model, videoModelAttributeOrder)
            model.updateElements { if $0.name == "acceleration" && $0.namespace == nil { orderAttributes(&$0, ["accel3d", "accel2d", "rendernode"]) } }
        }
    }

    /// libvirt's implicit video card for a guest with graphics and no `<video>`, and the first
    /// card marked primary.
    static func addDefaultVideo(_ devices: inout XMLElement) {
        if !devices.hasElement(named: "video") && devices.hasElement(named: "graphics") {
            var video = element("video")
            normalizeVideo(&video)
            devices.children.append(.element(video))
        }
        var first = true
        devices.updateElements { video in
            guard video.name == "video", video.namespace == nil else { return }
            defer { first = false }
            guard first else { return }
            video.updateElements { model in
                guard model.name == "model", model.namespace == nil, model[attribute: "type"] != "none", model[attribute: "primary"] == nil else { return }
                model[attribute: "primary"] = "yes"
                orderAttributes(&model, videoModelAttributeOrder)
            }
        }
    }
}

public import XMLTree

/// libvirt's migratable form of a domain document (`VIR_DOMAIN_XML_MIGRATABLE`,
/// `qemuDomainDefFormatBufInternal`): what `dumpxml --migratable` prints and what save images
/// and migrations carry, so that an older libvirt can read it. It leaves out what libvirt adds
/// on its own and adds back when it reads the document:
///
/// - an i440fx guest's only USB controller, when it is controller 0 of the default model
///   (`piix3-uhci`) without a user alias;
/// - the only PCI controller, when it is a `pci-root` of index 0 without a user alias or a
///   `<pcihole64>`;
/// - PS/2 keyboards;
/// - the only `<audio>`, when it is the one libvirt would add by default.
///
/// An Icelake-Server CPU gains `pconfig` disabled.
///
/// libvirt makes it from a copy of the definition read back, so its controllers are in the
/// order libvirt's parser keeps (``DomainNormalizer/orderControllersAsParsed(_:)``).
///
/// The document is a normalised definition, or a running guest's in its inactive form.
public enum DomainMigratableForm {
    /// `document` in its migratable form.
    public static func of(_ document: XMLElement) -> XMLElement {
        var document = document
        // An Icelake-Server CPU says pconfig is off: QEMU once listed it in the model
        // (qemuDomainMakeCPUMigratable).
        document.updateElements { cpu in
            guard cpu.name == "cpu", cpu.namespace == nil, (cpu[attribute: "mode"] ?? "custom") == "custom",
                cpu.element(named: "model").map({ X86CPUMap.modelName($0.text) }) == "Icelake-Server"
            else { return }
            LiveCPUUpdate.setFeature(&cpu, "pconfig", policy: "disable")
        }
        let machine = document.element(named: "os")?.element(named: "type")?[attribute: "machine"]
        let i440fx = machine.flatMap(X86Chipset.init(machine:)) == .i440fx
        document.updateElements { devices in
            guard devices.name == "devices", devices.namespace == nil else { return }
            DomainNormalizer.orderControllersAsParsed(&devices)
            let elements = devices.elements.filter { $0.namespace == nil }
            let controllers = elements.filter { $0.name == "controller" }
            let usb = controllers.filter { $0[attribute: "type"] == "usb" }
            let pci = controllers.filter { $0[attribute: "type"] == "pci" }
            let removableUSB = i440fx && usb.count == 1 && isDefaultUSB(usb[0]) ? usb.first : nil
            let removablePCI = pci.count == 1 && isDefaultPCIRoot(pci[0]) ? pci.first : nil
            let audios = elements.filter { $0.name == "audio" }
            let backend = DomainNormalizer.defaultAudioBackend(graphics: elements.filter { $0.name == "graphics" })
            let removableAudio = audios.count == 1 && isDefaultAudio(audios[0], backend: backend) ? audios.first : nil
            devices.removeElements { element in
                guard element.namespace == nil else { return false }
                switch element.name {
                case "controller": return element == removableUSB || element == removablePCI
                case "input": return element[attribute: "type"] == "keyboard" && ["ps2", "xen"].contains(element[attribute: "bus"] ?? "")
                case "audio": return element == removableAudio
                default: return false
                }
            }
        }
        return document
    }

    private static func hasUserAlias(_ element: XMLElement) -> Bool {
        (element.element(named: "alias")?[attribute: "name"] ?? "").hasPrefix("ua-")
    }

    private static func isDefaultUSB(_ controller: XMLElement) -> Bool {
        controller[attribute: "index"].flatMap { Int($0) } == 0 && (controller[attribute: "model"] ?? "piix3-uhci") == "piix3-uhci" && !hasUserAlias(controller)
    }

    private static func isDefaultPCIRoot(_ controller: XMLElement) -> Bool {
        controller[attribute: "index"].flatMap { Int($0) } == 0 && controller[attribute: "model"] == "pci-root" && !hasUserAlias(controller)
            && controller.element(named: "pcihole64") == nil
    }

    /// `<audio id='1' type='BACKEND'/>` and nothing else: the one libvirt adds.
    private static func isDefaultAudio(_ audio: XMLElement, backend: String?) -> Bool {
        guard let backend else { return false }
        return audio.elements.isEmpty && audio.attributes.count == 2 && audio[attribute: "id"] == "1" && audio[attribute: "type"] == backend
    }
}

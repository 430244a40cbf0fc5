import XMLTree

extension DomainDefinition {
    /// `<input>`.
    public struct Input: Hashable, Sendable, ModelledElement {
        /// `<input type>`.
        public enum Kind: String, ModelledValue {
            case mouse, tablet, keyboard, passthrough, evdev
        }

        /// `<input bus>`.
        public enum Bus: String, ModelledValue {
            case ps2, usb, xen, parallels, virtio, none
        }

        public var type: Kind
        public var bus: Bus?
        /// `<input model>`: only `virtio` is usable (QEMU has no transitional input devices).
        public var model: VirtioModel?
        public var alias: String?
        /// `<address type='usb'>`, when given (or assigned at define).
        public var usbAddress: USBAddress?
        /// `<address type='pci'>` of a virtio input device.
        public var pciAddress: PCIAddress?
        /// `<driver iommu ats packed page_per_vq>` (used on the virtio bus; libvirt keeps and
        /// ignores them on others).
        public var virtio = VirtioOptions()
        /// The host's event device a `passthrough` (`<source evdev>`) or `evdev`
        /// (`<source dev>`) input takes its events from.
        public var hostDevice: String?
        /// `<source grab='all'>` of an evdev input: every host device's events go to the guest
        /// while grabbed (QEMU's `grab_all`).
        public var grabsAll = false
        /// `<source grabToggle>`: the keys that move the grab between host and guest.
        public var grabToggle: GrabToggle?
        /// `<source repeat>`: the host's key repeat is passed on.
        public var repeatKeys: Bool?

        /// `<source grabToggle>`.
        public enum GrabToggle: String, ModelledValue {
            case ctrlCtrl = "ctrl-ctrl", altAlt = "alt-alt", shiftShift = "shift-shift", metaMeta = "meta-meta", scrolllock, ctrlScrolllock = "ctrl-scrolllock"
        }

        static let schema = ElementSchema("input", attributes: ["type", "bus", "model"], children: [
            ElementSchema("driver", attributes: VirtioOptions.attributes), ElementSchema("source", attributes: ["evdev", "dev", "grab", "grabToggle", "repeat"]),
            .alias, .address,
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.requiredAttribute("type", of: element)
            bus = try Bus.optionalAttribute("bus", of: element)
            model = try VirtioModel.optionalAttribute("model", of: element)
            alias = DeviceCommon.alias(element)
            usbAddress = DeviceCommon.usbAddress(element)
            pciAddress = try PCIAddress(device: element)
            virtio = try VirtioOptions(element.element(named: "driver"))
            // libvirt's reading (virDomainInputDefParseXML) and checks (virDomainInputDefValidate).
            if let source = element.element(named: "source"), type == .passthrough || type == .evdev {
                guard let path = source[attribute: type == .evdev ? "dev" : "evdev"] else {
                    throw DomainXMLError(.invalid, line: source.line, "Missing evdev path for input device")
                }
                hostDevice = path
                if type == .evdev {
                    if let grab = source[attribute: "grab"] {
                        guard grab == "all" else { throw DomainXMLError(.invalid, line: source.line, "Invalid value for attribute 'grab' in element 'source': '\(grab)'.") }
                        grabsAll = true
                    }
                    grabToggle = try GrabToggle.optionalAttribute("grabToggle", of: source)
                    repeatKeys = try AttributeValues.onOff("repeat", of: source)
                }
            }
            if type == .passthrough && bus != .virtio {
                throw DomainXMLError(.unsupported, line: element.line, "only bus 'virtio' is supported for 'passthrough' input devices")
            }
            if type == .evdev && bus != nil && bus != DomainDefinition.Input.Bus.none {
                throw DomainXMLError(.unsupported, line: element.line, "input evdev doesn't support bus element")
            }
        }
    }
}

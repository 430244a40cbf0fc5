import XMLTree

extension DomainDefinition {
    /// `<sound>`.
    public struct Sound: Hashable, Sendable, ModelledElement {
        /// `<sound model>`.
        public enum Model: String, ModelledValue {
            case sb16, es1370, pcspk, ac97, ich6, ich7, ich9, usb
        }

        /// `<codec type>` of an HDA card.
        public enum Codec: String, ModelledValue {
            case duplex, micro, output
        }

        public var model: Model
        /// The `<codec>`s of an ich6/ich9 card (none: one duplex codec).
        public var codecs: [Codec] = []
        /// `<audio id>`: the backend it plays through (none: the first).
        public var audioID: Int?
        public var alias: String?
        /// `<address type='pci'>`, when given (or assigned at define).
        public var pciAddress: PCIAddress?
        /// `<address type='usb'>` of a USB sound device (written at define).
        public var usbAddress: USBAddress?

        static let schema = ElementSchema("sound", attributes: ["model"], children: [
            .alias, .address, ElementSchema("codec", attributes: ["type"]), ElementSchema("audio", attributes: ["id"]),
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            pciAddress = try PCIAddress(device: element)
            usbAddress = DeviceCommon.usbAddress(element)
            model = try Model.requiredAttribute("model", of: element)
            alias = DeviceCommon.alias(element)
            for codec in element.elements(named: "codec") { codecs.append(try Codec.requiredAttribute("type", of: codec)) }
            audioID = try Audio.reference(in: element)
        }
    }
}

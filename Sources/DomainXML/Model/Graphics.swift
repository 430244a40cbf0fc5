import XMLTree

extension DomainDefinition {
    /// `<graphics>`.
    public struct Graphics: Hashable, Sendable, ModelledElement {
        /// `<graphics type>`.
        public enum Kind: String, ModelledValue {
            case sdl, vnc, rdp, desktop, spice, eglHeadless = "egl-headless", dbus
        }

        public var type: Kind
        public var port: Int?
        public var autoport: Bool
        public var listen: String?
        public var alias: String?

        static let schema = ElementSchema("graphics", attributes: ["type", "port", "autoport", "listen"], children: [
            ElementSchema("listen", attributes: ["type", "address"]),
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.requiredAttribute("type", of: element)
            port = element[attribute: "port"].flatMap { Int($0) }
            autoport = element[attribute: "autoport"] == "yes"
            listen = element[attribute: "listen"]
            alias = DeviceCommon.alias(element)
        }
    }
}

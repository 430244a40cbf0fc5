import XMLTree

extension DomainDefinition {
    /// `<watchdog>`.
    public struct Watchdog: Hashable, Sendable, ModelledElement {
        /// `<watchdog model>`.
        public enum Model: String, ModelledValue {
            case i6300esb, ib700, diag288, itco
        }

        /// `<watchdog action>`.
        public enum Action: String, ModelledValue {
            case reset, shutdown, poweroff, pause, dump, none, injectNMI = "inject-nmi"
        }

        public var model: Model
        public var action: Action
        public var alias: String?
        /// `<address type='pci'>`, when given (or assigned at define).
        public var pciAddress: PCIAddress?

        static let schema = ElementSchema("watchdog", attributes: ["model", "action"], children: [.alias, .address])

        init(_ element: XMLElement) throws(DomainXMLError) {
            pciAddress = try PCIAddress(device: element)
            model = try Model.requiredAttribute("model", of: element)
            action = try Action.attribute("action", of: element, default: .reset)
            alias = DeviceCommon.alias(element)
        }
    }
}

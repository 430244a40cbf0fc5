import XMLTree

extension DomainDefinition {
    /// `<pm>`: whether the guest may suspend to memory (S3) and to disk (S4).
    public struct PowerManagement: Hashable, Sendable {
        /// `yes`/`no` of `<pm>`'s children.
        public enum Switch: String, ModelledValue {
            case yes, no
        }

        /// `<suspend-to-mem enabled>`; `nil`: QEMU's default.
        public var suspendToMemory: Bool?
        /// `<suspend-to-disk enabled>`; `nil`: QEMU's default.
        public var suspendToDisk: Bool?

        static let schema = ElementSchema("pm", children: [
            ElementSchema("suspend-to-mem", attributes: ["enabled"]), ElementSchema("suspend-to-disk", attributes: ["enabled"]),
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            suspendToMemory = try Switch.optionalAttribute("enabled", of: element.element(named: "suspend-to-mem")).map { $0 == .yes }
            suspendToDisk = try Switch.optionalAttribute("enabled", of: element.element(named: "suspend-to-disk")).map { $0 == .yes }
        }
    }
}

import XMLTree

extension DomainDefinition {
    /// `<os>`.
    public struct OperatingSystem: Hashable, Sendable, ModelledElement {
        /// `<boot dev>`.
        public enum BootDevice: String, ModelledValue {
            case fd, hd, cdrom, network
        }

        /// `hvm` (the only type x86 QEMU guests have).
        public var type: String
        public var arch: String
        public var machine: String?
        /// `<boot dev>` in order.
        public var bootDevices: [BootDevice]
        public var kernel: String?
        public var initrd: String?
        public var cmdline: String?
        public var loader: Loader?
        public var nvram: String?

        static let schema = ElementSchema("os", children: [
            .text("type", attributes: ["arch", "machine"]), ElementSchema("boot", attributes: ["dev"]), .text("kernel"), .text("initrd"),
            .text("cmdline"), Loader.schema, .text("nvram"),
        ])

        /// Reads a normalised `<os>` (its type, arch and machine are filled in).
        init(_ element: XMLElement) throws(DomainXMLError) {
            let typeElement = element.element(named: "type")
            type = typeElement?.text ?? "hvm"
            arch = typeElement?[attribute: "arch"] ?? "x86_64"
            machine = typeElement?[attribute: "machine"]
            var boot: [BootDevice] = []
            for device in element.elements(named: "boot") {
                if let value = try BootDevice.optionalAttribute("dev", of: device) { boot.append(value) }
            }
            bootDevices = boot
            kernel = element.element(named: "kernel")?.text
            initrd = element.element(named: "initrd")?.text
            cmdline = element.element(named: "cmdline")?.text
            loader = try element.element(named: "loader").map { loader throws(DomainXMLError) in try Loader(loader) }
            nvram = element.element(named: "nvram")?.text
        }
    }

    /// `<loader>` (firmware).
    public struct Loader: Hashable, Sendable, ModelledElement {
        /// `<loader type>`.
        public enum Kind: String, ModelledValue {
            case rom, pflash
        }

        public var path: String
        public var readonly: Bool
        public var type: Kind?

        static let schema = ElementSchema.text("loader", attributes: ["readonly", "type"])

        init(_ element: XMLElement) throws(DomainXMLError) {
            path = element.text
            readonly = element[attribute: "readonly"] == "yes"
            type = try Kind.optionalAttribute("type", of: element)
        }
    }
}

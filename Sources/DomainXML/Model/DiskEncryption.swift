import XMLTree

extension DomainDefinition.Disk {
    /// `<encryption format engine>` with its `<secret type='passphrase' uuid|usage>`: an image
    /// QEMU decrypts with a passphrase from libvirt's secret driver.
    public struct Encryption: Hashable, Sendable {
        /// `<encryption format>`.
        public enum Format: String, ModelledValue {
            case `default`, qcow, luks, luks2, luksAny = "luks-any"
        }

        /// `<encryption engine>`: who decrypts (libvirt fills in `qemu`).
        public enum Engine: String, ModelledValue {
            case qemu, librbd
        }

        public var format: Format
        public var engine: Engine
        /// `<secret uuid>` or `<secret usage>`: which secret holds the passphrase.
        public var secretUUID: String?
        public var secretUsage: String?

        static let schema = ElementSchema(
            "encryption", attributes: ["format", "engine"], children: [ElementSchema("secret", attributes: ["type", "uuid", "usage"])])

        /// Reads `<encryption>` with libvirt's checks (`virStorageEncryptionParseNode` and the
        /// domain's refusal of a cipher).
        init(_ element: XMLElement) throws(DomainXMLError) {
            guard let formatName = element[attribute: "format"] else {
                throw DomainXMLError(.invalid, line: element.line, "unknown volume encryption format")
            }
            guard let format = Format(rawValue: formatName) else {
                throw DomainXMLError(.unsupported, line: element.line, "unknown volume encryption format type \(formatName)")
            }
            self.format = format
            engine = try Engine.attribute("engine", of: element, default: .qemu)
            let secrets = element.elements(named: "secret")
            for secret in secrets {
                guard let type = secret[attribute: "type"] else {
                    throw DomainXMLError(.invalid, line: secret.line, "unknown volume encryption secret type")
                }
                guard type == "passphrase" else {
                    throw DomainXMLError(.unsupported, line: secret.line, "unknown volume encryption secret type \(type)")
                }
                switch (secret[attribute: "uuid"], secret[attribute: "usage"]) {
                case (nil, nil): throw DomainXMLError(.invalid, line: secret.line, "missing secret uuid or usage attribute")
                case (.some, .some): throw DomainXMLError(.invalid, line: secret.line, "either secret uuid or usage expected")
                default: break
                }
            }
            secretUUID = secrets.first?[attribute: "uuid"]
            secretUsage = secrets.first?[attribute: "usage"]
            if element.element(named: "cipher") != nil {
                throw DomainXMLError(.unsupported, line: element.line, "supplying <cipher> for domain disk definition is unnecessary")
            }
        }
    }
}

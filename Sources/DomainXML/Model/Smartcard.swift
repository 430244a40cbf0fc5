import XMLTree

extension DomainDefinition {
    /// `<smartcard>`: a smartcard reader on the guest's CCID controller, backed by the host's
    /// NSS database (`host`), by three certificates in one (`host-certificates`), or by a
    /// character device a remote card speaks through (`passthrough`, as SPICE clients do).
    public struct Smartcard: Hashable, Sendable, ModelledElement {
        /// `<smartcard mode>`.
        public enum Mode: String, ModelledValue {
            case host, hostCertificates = "host-certificates", passthrough
        }

        /// `<smartcard type>` of a passthrough card: its character device.
        public enum PassthroughType: String, ModelledValue {
            case spicevmc, tcp, unix
        }

        public var mode: Mode
        /// The three `<certificate>` names and the `<database>` directory (host-certificates).
        public var certificates: [String] = []
        public var database: String?
        /// The character device of a passthrough card.
        public var passthrough: PassthroughType?
        public var host: String?
        public var service: String?
        public var path: String?
        public var sourceMode: String?
        public var alias: String?
        /// `<address type='ccid' controller slot>`.
        public var controller: Int = 0
        public var slot: Int = 0

        /// libvirt's `VIR_DOMAIN_SMARTCARD_DEFAULT_DATABASE`.
        public static let defaultDatabase = "/etc/pki/nssdb"

        static let schema = ElementSchema("smartcard", attributes: ["mode", "type"], children: [
            .text("certificate"), .text("database"), ElementSchema("source", attributes: ["mode", "host", "service", "path"]), CharacterDevice.protocolSchema,
            .alias, .address,
        ])

        /// Reads `<smartcard>` with libvirt's checks (`virDomainSmartcardDefParseXML`).
        init(_ element: XMLElement) throws(DomainXMLError) {
            mode = try Mode.requiredAttribute("mode", of: element)
            switch mode {
            case .host:
                break
            case .hostCertificates:
                certificates = element.elements(named: "certificate").map(\.text)
                guard certificates.count == 3 else {
                    throw DomainXMLError(.invalid, line: element.line, "host-certificates mode needs exactly three certificates")
                }
                if let database = element.element(named: "database")?.text {
                    guard database.hasPrefix("/") else { throw DomainXMLError(.invalid, line: element.line, "expecting absolute path: \(database)") }
                    self.database = database
                }
            case .passthrough:
                guard let type = element[attribute: "type"] else {
                    throw DomainXMLError(.invalid, line: element.line, "passthrough mode requires a character device type attribute")
                }
                guard let known = PassthroughType(rawValue: type) else {
                    throw DomainXMLError(.unsupported, line: element.line, "unknown type presented to host for character device: \(type)")
                }
                passthrough = known
                let source = element.element(named: "source")
                host = source?[attribute: "host"]
                service = source?[attribute: "service"]
                path = source?[attribute: "path"]
                sourceMode = source?[attribute: "mode"]
                if known == .tcp && service == nil {
                    throw DomainXMLError(.invalid, line: element.line, "Missing source service attribute for char device")
                }
                if known == .unix && path == nil {
                    throw DomainXMLError(.invalid, line: element.line, "Missing source path attribute for char device")
                }
            }
            alias = DeviceCommon.alias(element)
            if let address = element.element(named: "address"), address[attribute: "type"] == "ccid" {
                controller = address[attribute: "controller"].flatMap { Int($0) } ?? 0
                slot = address[attribute: "slot"].flatMap { Int($0) } ?? 0
            }
        }

        /// A passthrough card's host side as a character device.
        public var characterDevice: CharacterDevice? {
            guard let passthrough else { return nil }
            var device = CharacterDevice(type: passthrough == .spicevmc ? .spicevmc : passthrough == .tcp ? .tcp : .unix)
            device.host = host
            device.service = service
            device.path = path
            device.mode = sourceMode ?? "connect"
            return device
        }
    }
}

import XMLTree

extension DomainDefinition {
    /// `<tpm>`: a Trusted Platform Module, emulated by `swtpm`, passed through from the host,
    /// or an external emulator's socket.
    public struct TPM: Hashable, Sendable, ModelledElement {
        /// `<tpm model>`: the guest's TPM interface.
        public enum Model: String, ModelledValue {
            case tis = "tpm-tis", crb = "tpm-crb", spapr = "tpm-spapr", spaprProxy = "spapr-tpm-proxy"
        }

        /// `<backend type>`.
        public enum Backend: String, ModelledValue {
            case passthrough, emulator, external
        }

        /// `<backend version>` of an emulator.
        public enum Version: String, ModelledValue {
            case v1_2 = "1.2", v2_0 = "2.0"
        }

        public var model: Model
        public var backend: Backend
        /// The emulated TPM's version (chosen at define as libvirt chooses it).
        public var version: Version
        /// `<backend persistent_state>`: keep the emulator's state when the domain is undefined.
        public var persistentState: Bool
        /// `<device path>` of a passed-through TPM, `<source path>` of an external emulator's socket.
        public var path: String?
        public var alias: String?
        /// `<active_pcr_banks>` of an emulated TPM 2.0: the PCR banks it has active (none
        /// given: swtpm's own choice), in libvirt's order.
        public var activePCRBanks: [PCRBank] = []

        /// `<encryption secret>` of an emulated TPM: the secret (usage `vtpm`) whose value
        /// encrypts the emulator's state.
        public var encryptionSecret: String?

        /// A PCR bank (`virDomainTPMPcrBank`), in libvirt's order.
        public enum PCRBank: String, CaseIterable, Hashable, Sendable {
            case sha1, sha256, sha384, sha512
        }

        static let schema = ElementSchema("tpm", attributes: ["model"], children: [
            ElementSchema("backend", attributes: ["type", "version", "persistent_state"], children: [
                ElementSchema("device", attributes: ["path"]), ElementSchema("source", attributes: ["type", "path", "mode"]),
                ElementSchema("active_pcr_banks", children: PCRBank.allCases.map { ElementSchema($0.rawValue) }),
                ElementSchema("encryption", attributes: ["secret"]),
            ]),
            .alias, .address,
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            model = try Model.attribute("model", of: element, default: .tis)
            let backendElement = element.element(named: "backend")
            guard let backendElement else { throw DomainXMLError(.invalid, line: element.line, "missing TPM device backend") }
            backend = try Backend.requiredAttribute("type", of: backendElement)
            version = try Version.optionalAttribute("version", of: backendElement) ?? (model == .tis ? .v1_2 : .v2_0)
            persistentState = backendElement[attribute: "persistent_state"] == "yes"
            switch backend {
            case .passthrough: path = backendElement.element(named: "device")?[attribute: "path"] ?? "/dev/tpm0"
            case .external:
                guard let source = backendElement.element(named: "source"), source[attribute: "type"] == "unix", let socket = source[attribute: "path"] else {
                    throw DomainXMLError(.invalid, line: backendElement.line, "missing TPM source path for external backend")
                }
                path = socket
            case .emulator:
                path = nil
                activePCRBanks = backendElement.element(named: "active_pcr_banks")?.elements.compactMap { PCRBank(rawValue: $0.name) } ?? []
                encryptionSecret = backendElement.element(named: "encryption")?[attribute: "secret"]
            }
            alias = DeviceCommon.alias(element)
        }
    }
}

import XMLTree

extension DomainNormalizer {
    /// An emulated TPM's `<active_pcr_banks>` as libvirt keeps it (a set): each bank once, in
    /// libvirt's order, none written when empty; an unknown bank refused in libvirt's words.
    /// Other backends' are dropped, as libvirt does not read them.
    static func normalizePCRBanks(_ tpm: inout XMLElement) throws(DomainXMLError) {
        var failure: DomainXMLError?
        tpm.updateElements { backend in
            guard backend.name == "backend", backend.namespace == nil, let banks = backend.element(named: "active_pcr_banks") else { return }
            let emulator = backend[attribute: "type"] == "emulator"
            var chosen = Set<DomainDefinition.TPM.PCRBank>()
            for bank in banks.elements {
                guard let known = DomainDefinition.TPM.PCRBank(rawValue: bank.name) else {
                    failure = DomainXMLError(.unsupported, line: bank.line, "Unsupported PCR banks '\(bank.name)'")
                    return
                }
                chosen.insert(known)
            }
            let ordered = DomainDefinition.TPM.PCRBank.allCases.filter(chosen.contains)
            backend.children = backend.children.map { node in
                guard case .element(let e) = node, e.name == "active_pcr_banks", e.namespace == nil else { return node }
                return .element(element("active_pcr_banks", children: ordered.map { element($0.rawValue) }))
            }
            if !emulator || ordered.isEmpty { backend.removeElements { $0.name == "active_pcr_banks" && $0.namespace == nil } }
        }
        if let failure { throw failure }
    }

    /// An emulated TPM's `<encryption secret>` as libvirt keeps it: the secret's UUID in its
    /// canonical form, written before the PCR banks; one without a secret, or of another
    /// backend, is dropped, as libvirt does not read it. A UUID that does not parse is libvirt's
    /// error.
    static func normalizeTPMEncryption(_ tpm: inout XMLElement) throws(DomainXMLError) {
        var failure: DomainXMLError?
        tpm.updateElements { backend in
            guard backend.name == "backend", backend.namespace == nil, backend.element(named: "encryption") != nil else { return }
            let emulator = backend[attribute: "type"] == "emulator"
            backend.children = backend.children.compactMap { node in
                guard case .element(var encryption) = node, encryption.name == "encryption", encryption.namespace == nil else { return node }
                guard emulator, let secret = encryption[attribute: "secret"] else { return nil }
                guard let uuid = canonicalUUID(secret) else {
                    failure = DomainXMLError(.internalError, line: encryption.line, "Unable to parse secret uuid '\(secret)'")
                    return node
                }
                encryption.attributes = [XMLAttribute(name: "secret", value: uuid)]
                encryption.children = []
                return .element(encryption)
            }
            backend.children = ordered(backend.children, by: ["device", "source", "encryption", "active_pcr_banks"])
        }
        if let failure { throw failure }
    }
}

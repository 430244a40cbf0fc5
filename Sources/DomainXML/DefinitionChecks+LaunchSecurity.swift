import XMLTree

extension DefinitionChecks {
    /// `<launchSecurity>` as libvirt reads and validates it (`virDomainSecDefParseXML`,
    /// `qemuValidateDomainDef`), in its words. Corral runs no confidential guests: AMD SEV needs
    /// a host and a KVM that have it (which libvirt finds in QEMU's `query-sev-capabilities`),
    /// and s390's protected virtualization is not x86's; so a definition that asks for either is
    /// refused at define, as libvirtd refuses it on a host without them.
    static func checkLaunchSecurity(_ root: XMLElement) throws(DomainXMLError) {
        guard let security = root.element(named: "launchSecurity") else { return }
        guard let type = security[attribute: "type"] else {
            throw DomainXMLError(.invalid, line: security.line, "Missing required attribute 'type' in element 'launchSecurity'")
        }
        switch type {
        case "sev":
            // Its parse first: the policy (hexadecimal) is required; the platform's numbers,
            // when given, are unsigned.
            guard let policy = security.element(named: "policy")?.text.trimmingWhitespace(), UInt32(policy.hasPrefix("0x") ? String(policy.dropFirst(2)) : policy, radix: 16) != nil else {
                throw DomainXMLError(.invalid, line: security.line, "failed to get launch security policy")
            }
            if let text = security.element(named: "cbitpos")?.text, UInt32(text.trimmingWhitespace()) == nil {
                throw DomainXMLError(.invalid, line: security.line, "Invalid format for launch security cbitpos")
            }
            if let text = security.element(named: "reducedPhysBits")?.text, UInt32(text.trimmingWhitespace()) == nil {
                throw DomainXMLError(.invalid, line: security.line, "Invalid format for launch security reduced-phys-bits")
            }
            throw DomainXMLError(.unsupported, "SEV launch security is not supported with this QEMU binary")
        case "s390-pv":
            throw DomainXMLError(.unsupported, "S390 PV launch security is not supported with this QEMU binary")
        default:
            throw DomainXMLError(.invalid, line: security.line, "Invalid value for attribute 'type' in element 'launchSecurity': '\(type)'.")
        }
    }
}

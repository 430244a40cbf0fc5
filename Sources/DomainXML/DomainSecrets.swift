import XMLTree

/// What `virDomainGetXMLDesc` hides unless asked for with `VIR_DOMAIN_XML_SECURE`: the
/// passwords of graphics devices (VNC and SPICE `passwd`), as libvirt leaves them out.
public enum DomainSecrets {
    /// The attributes that hold secrets, by element.
    static let secretAttributes: [String: Set<String>] = ["graphics": ["passwd"]]

    /// `xml` without its secrets. Cheap when there are none (no parse).
    public static func stripped(_ xml: String) -> String {
        guard xml.contains("passwd") else { return xml }
        guard var root = try? XMLTreeParser.parse(xml) else { return xml }
        strip(&root)
        return DomainXMLFormatter.format(root)
    }

    static func strip(_ element: inout XMLElement) {
        if element.namespace == nil, let names = secretAttributes[element.name] {
            element.attributes.removeAll { $0.namespace == nil && names.contains($0.name) }
        }
        element.updateElements { strip(&$0) }
    }
}

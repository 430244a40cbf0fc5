import XMLTree

/// What `virDomainGetXMLDesc` hides unless asked for with `VIR_DOMAIN_XML_SECURE`: the
/// passwords of graphics devices (VNC and SPICE `passwd`), as libvirt leaves them out.
public enum DomainSecrets {
    /// The attributes that hold secrets, by element.
    static let secretAttributes: [String: Set<String>] = ["graphics": ["passwd"]]

    /// `xml` without its secrets. Cheap when there are none (no parse).
    public static func stripped(_ xml: String) -> String {
        guard mentionsSecret(xml) else { return xml }
        guard var root = try? XMLTreeParser.parse(xml) else { return xml }
        strip(&root)
        return DomainXMLFormatter.format(root)
    }

    /// Whether `xml` contains `passwd`: a byte scan (a `String.contains` compares Characters,
    /// which costs more than the whole dumpxml call).
    static func mentionsSecret(_ xml: String) -> Bool {
        let word = Array("passwd".utf8)
        var xml = xml
        return xml.withUTF8 { bytes in
            guard bytes.count >= word.count else { return false }
            var i = 0
            let last = bytes.count - word.count
            while i <= last {
                if bytes[i] == word[0] && bytes[i + 1] == word[1] && bytes[i + 2] == word[2] && bytes[i + 3] == word[3]
                    && bytes[i + 4] == word[4] && bytes[i + 5] == word[5] {
                    return true
                }
                i += 1
            }
            return false
        }
    }

    static func strip(_ element: inout XMLElement) {
        if element.namespace == nil, let names = secretAttributes[element.name] {
            element.attributes.removeAll { $0.namespace == nil && names.contains($0.name) }
        }
        element.updateElements { strip(&$0) }
    }
}

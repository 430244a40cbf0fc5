import XMLTree

/// What `virDomainGetXMLDesc` hides unless asked for with `VIR_DOMAIN_XML_SECURE`: the
/// passwords of graphics devices (VNC and SPICE `passwd`) and the HTTP cookies of network
/// disks (`<source><cookies>`), as libvirt leaves them out.
public enum DomainSecrets {
    /// The attributes that hold secrets, by element.
    static let secretAttributes: [String: Set<String>] = ["graphics": ["passwd"]]
    /// The child elements that hold secrets, by parent element.
    static let secretChildren: [String: Set<String>] = ["source": ["cookies"]]
    /// Words one of which a document with a secret contains.
    static let secretWords: [[UInt8]] = [Array("passwd".utf8), Array("cookies".utf8)]

    /// `xml` without its secrets. Cheap when there are none (no parse).
    public static func stripped(_ xml: String) -> String {
        guard mentionsSecret(xml) else { return xml }
        guard var root = try? XMLTreeParser.parse(xml) else { return xml }
        strip(&root)
        return DomainXMLFormatter.format(root)
    }

    /// Whether `xml` contains one of ``secretWords``: a byte scan (a `String.contains` compares
    /// Characters, which costs more than the whole dumpxml call). It runs on every dumpxml, over
    /// the whole definition: one table look per byte, and only a byte that starts a word is
    /// looked at further (it was a tenth of corrald's CPU time in a loop of dumpxml calls).
    static func mentionsSecret(_ xml: String) -> Bool {
        var xml = xml
        let startsWord = secretWordStarts
        return xml.withUTF8 { bytes in
            startsWord.withUnsafeBufferPointer { startsWord in
                var i = 0
                while i < bytes.count {
                    if startsWord[Int(bytes[i])] {
                        for word in secretWords where bytes[i] == word[0] && i + word.count <= bytes.count {
                            var matched = 1
                            while matched < word.count && bytes[i + matched] == word[matched] { matched += 1 }
                            if matched == word.count { return true }
                        }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    /// By byte value: whether one of ``secretWords`` starts with it.
    static let secretWordStarts: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for word in secretWords { table[Int(word[0])] = true }
        return table
    }()

    static func strip(_ element: inout XMLElement) {
        if element.namespace == nil, let names = secretAttributes[element.name] {
            element.attributes.removeAll { $0.namespace == nil && names.contains($0.name) }
        }
        if element.namespace == nil, let names = secretChildren[element.name] {
            element.children.removeAll { node in
                guard case .element(let child) = node else { return false }
                return child.namespace == nil && names.contains(child.name)
            }
        }
        element.updateElements { strip(&$0) }
    }
}

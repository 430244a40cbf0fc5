import XMLTree

/// Reads configuration-file sections from their XML form: the standalone `<qemu:config>`
/// document, or a whole domain XML whose qemu-namespace elements (other than libvirt's own
/// `commandline`, `capabilities`, `override` and `deprecation`) are sections.
///
/// The namespace is matched by URI, whatever its prefix. Key elements may carry the qemu
/// namespace or none. It reads through `XMLTree`, the one XML parser of the project: documents
/// with a DTD or entity declarations, characters XML forbids, or more than
/// ``maximumDocumentSize`` bytes are refused.
public enum QEMUConfigXMLReader {
    /// The largest document accepted, in bytes.
    public static let maximumDocumentSize = 64 << 20

    /// libvirt's own elements in the namespace, which are not configuration sections.
    public static let libvirtElements: Set<String> = ["commandline", "capabilities", "override", "deprecation"]

    /// Reads the sections of `xml`.
    ///
    /// - Throws: ``QEMUConfigError`` with the line of each problem.
    public static func read(_ xml: String) throws(QEMUConfigError) -> QEMUConfigFile {
        let root: XMLElement
        do {
            root = try XMLTreeParser.parse(xml, limits: XMLParseLimits(maximumBytes: maximumDocumentSize, maximumDepth: 128, maximumAttributes: 256))
        } catch {
            throw QEMUConfigError([QEMUConfigDiagnostic(line: error.line, message: "malformed XML: \(error.message)")])
        }
        let namespace = QEMUConfigXMLWriter.namespace
        let isDomain: Bool
        if root.name == "config" && root.namespace == namespace {
            isDomain = false
        } else if root.name == "domain" && root.namespace == nil {
            isDomain = true
        } else {
            let shown = root.prefix.map { $0 + ":" + root.name } ?? root.name
            throw QEMUConfigError([QEMUConfigDiagnostic(line: root.line, message: "expected a <qemu:config> document (namespace \(namespace)) or a <domain>, found <\(shown)>")])
        }
        var sections: [QEMUConfigSection] = []
        for element in root.elements {
            let shown = element.prefix.map { $0 + ":" + element.name } ?? element.name
            guard element.namespace == namespace, !(isDomain && libvirtElements.contains(element.name)) else {
                if isDomain { continue }
                throw QEMUConfigError([QEMUConfigDiagnostic(line: element.line, message: "<\(shown)> is not in the qemu namespace; sections are elements of \(namespace)")])
            }
            sections.append(try section(element, shown: shown))
        }
        return QEMUConfigFile(sections: sections)
    }

    static func section(_ element: XMLElement, shown: String) throws(QEMUConfigError) -> QEMUConfigSection {
        func fail(_ line: Int, _ message: String) -> QEMUConfigError { QEMUConfigError([QEMUConfigDiagnostic(line: line, message: message)]) }
        var id: String?
        for attribute in element.attributes {
            guard attribute.name == "id", attribute.namespace == nil else {
                throw fail(element.line, "the section <\(shown)> has an attribute '\(attribute.name)'; only 'id' is allowed")
            }
            id = attribute.value
        }
        var section = QEMUConfigSection(group: element.name, id: id)
        for child in element.children {
            switch child {
            case .text(let text):
                let trimmed = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
                if !trimmed.isEmpty {
                    throw fail(element.line, "text '\(trimmed)' directly inside a section: values belong in key elements")
                }
            case .element(let key):
                guard key.namespace == nil || key.namespace == QEMUConfigXMLWriter.namespace else {
                    throw fail(key.line, "the key element <\(key.prefix.map { $0 + ":" } ?? "")\(key.name)> is in the namespace \(key.namespace ?? ""); use no namespace or the qemu one")
                }
                if let attribute = key.attributes.first {
                    throw fail(key.line, "the key element <\(key.name)> has an attribute '\(attribute.name)'; a key's value is its text")
                }
                if let nested = key.elements.first {
                    throw fail(nested.line, "<\(nested.prefix.map { $0 + ":" } ?? "")\(nested.name)> inside the key element <\(key.name)>: a key holds only text")
                }
                section.entries.append(QEMUConfigEntry(key: key.name, value: key.text))
            }
        }
        return section
    }
}

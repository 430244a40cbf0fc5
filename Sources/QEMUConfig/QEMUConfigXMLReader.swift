import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads configuration-file sections from their XML form: the standalone `<qemu:config>`
/// document, or a whole domain XML whose qemu-namespace elements (other than libvirt's own
/// `commandline`, `capabilities`, `override` and `deprecation`) are sections.
///
/// The namespace is matched by URI, whatever its prefix. Key elements may carry the qemu
/// namespace or none. Documents with a DTD or entity declarations are refused, as is anything over
/// ``maximumDocumentSize``.
public enum QEMUConfigXMLReader {
    /// The largest document accepted, in bytes.
    public static let maximumDocumentSize = 64 << 20

    /// libvirt's own elements in the namespace, which are not configuration sections.
    public static let libvirtElements: Set<String> = ["commandline", "capabilities", "override", "deprecation"]

    /// Reads the sections of `xml`.
    ///
    /// - Throws: ``QEMUConfigError`` with the line of each problem.
    public static func read(_ xml: String) throws(QEMUConfigError) -> QEMUConfigFile {
        if xml.utf8.count > maximumDocumentSize {
            throw QEMUConfigError(message: "the XML document is larger than \(maximumDocumentSize) bytes")
        }
        if let line = hostileDeclarationLine(xml) {
            throw QEMUConfigError([QEMUConfigDiagnostic(line: line, message: "document type and entity declarations are not accepted")])
        }
        let delegate = SectionCollector()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        delegate.parser = parser
        let ok = parser.parse()
        if !delegate.problems.isEmpty { throw QEMUConfigError(delegate.problems) }
        if !ok {
            let message = parser.parserError.map { ($0 as NSError).localizedDescription } ?? "malformed XML"
            throw QEMUConfigError([QEMUConfigDiagnostic(line: parser.lineNumber, message: "malformed XML: \(message)")])
        }
        if !delegate.sawRoot { throw QEMUConfigError(message: "the document has no root element") }
        if !delegate.rootClosed {
            throw QEMUConfigError([QEMUConfigDiagnostic(line: parser.lineNumber, message: "malformed XML: the document ends before its elements are closed")])
        }
        return QEMUConfigFile(sections: delegate.sections)
    }

    /// The line of a `<!DOCTYPE` or `<!ENTITY` declaration, if the document has one.
    static func hostileDeclarationLine(_ xml: String) -> Int? {
        var line = 1
        var iterator = xml.utf8.makeIterator()
        var window: [UInt8] = []
        while let b = iterator.next() {
            if b == UInt8(ascii: "\n") { line += 1 }
            if b == UInt8(ascii: "<") {
                window = [b]
                continue
            }
            guard !window.isEmpty else { continue }
            window.append(b)
            if window.count == 2 && b != UInt8(ascii: "!") {
                window = []
            } else if window.count == 3 {
                if b == UInt8(ascii: "D") || b == UInt8(ascii: "E") { return line }
                window = []
            }
        }
        return nil
    }
}

/// Collects sections from SAX events.
private final class SectionCollector: NSObject, XMLParserDelegate {
    weak var parser: XMLParser?
    var sections: [QEMUConfigSection] = []
    var problems: [QEMUConfigDiagnostic] = []
    var sawRoot = false
    var rootClosed = false

    private enum Root { case config, domain }
    private var root: Root?
    private var depth = 0
    /// Depth of the current section element, if inside one.
    private var sectionDepth: Int?
    /// Depth of an element being skipped (libvirt's own or foreign elements under `<domain>`).
    private var skipDepth: Int?
    private var currentKey: String?
    private var currentValue = ""

    private var line: Int { parser?.lineNumber ?? 0 }

    private func fail(_ message: String) {
        problems.append(QEMUConfigDiagnostic(line: line, message: message))
        parser?.abortParsing()
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        depth += 1
        let inQEMU = namespaceURI == QEMUConfigXMLWriter.namespace
        if skipDepth != nil { return }
        if depth == 1 {
            sawRoot = true
            if name == "config" && inQEMU {
                root = .config
            } else if name == "domain" && (namespaceURI ?? "").isEmpty {
                root = .domain
            } else {
                fail("expected a <qemu:config> document (namespace \(QEMUConfigXMLWriter.namespace)) or a <domain>, found <\(qualifiedName ?? name)>")
            }
            return
        }
        if depth == 2 {
            if !inQEMU || (root == .domain && QEMUConfigXMLReader.libvirtElements.contains(name)) {
                if root == .config {
                    fail("<\(qualifiedName ?? name)> is not in the qemu namespace; sections are elements of \(QEMUConfigXMLWriter.namespace)")
                    return
                }
                skipDepth = depth
                return
            }
            var id: String?
            for (attribute, value) in attributes {
                if attribute == "id" {
                    id = value
                } else if !attribute.hasPrefix("xmlns") {
                    fail("the section <\(qualifiedName ?? name)> has an attribute '\(attribute)'; only 'id' is allowed")
                    return
                }
            }
            sectionDepth = depth
            sections.append(QEMUConfigSection(group: name, id: id))
            return
        }
        if depth == 3, sectionDepth != nil {
            guard namespaceURI == nil || namespaceURI == "" || inQEMU else {
                fail("the key element <\(qualifiedName ?? name)> is in the namespace \(namespaceURI ?? ""); use no namespace or the qemu one")
                return
            }
            if let attribute = attributes.keys.first(where: { !$0.hasPrefix("xmlns") }) {
                fail("the key element <\(name)> has an attribute '\(attribute)'; a key's value is its text")
                return
            }
            currentKey = name
            currentValue = ""
            return
        }
        fail("<\(qualifiedName ?? name)> inside the key element <\(currentKey ?? "?")>: a key holds only text")
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        defer {
            depth -= 1
            if depth == 0 { rootClosed = true }
        }
        if let skip = skipDepth {
            if depth == skip { skipDepth = nil }
            return
        }
        if depth == 3, let key = currentKey {
            sections[sections.count - 1].entries.append(QEMUConfigEntry(key: key, value: currentValue))
            currentKey = nil
        } else if depth == 2 {
            sectionDepth = nil
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text(string)
    }

    func parser(_ parser: XMLParser, foundCDATA block: Data) {
        text(String(decoding: block, as: UTF8.self))
    }

    private func text(_ string: String) {
        if skipDepth != nil { return }
        if currentKey != nil {
            currentValue += string
        } else if sectionDepth != nil, string.contains(where: { !$0.isWhitespace }) {
            fail("text '\(string.trimmingCharacters(in: .whitespacesAndNewlines))' directly inside a section: values belong in key elements")
        }
    }

    func parser(_ parser: XMLParser, foundInternalSubset string: String) {
        fail("document type declarations are not accepted")
    }

    func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? {
        fail("external entities are not accepted")
        return nil
    }
}

/// Serialises an ``XMLElement`` tree the way libvirt formats XML: two-space indentation,
/// attributes in single quotes, elements holding only text kept on one line, empty elements
/// self-closed. Elements with mixed content (text next to elements) are written as they are.
///
/// Namespaced elements and attributes are written with their prefix; a declaration is added
/// wherever a prefix is not already declared by an ancestor. `preferredPrefixes` maps
/// namespace URIs to the prefix to use for them (libvirt's `qemu` for its namespace).
public struct XMLTreeWriter: Sendable {
    /// Prefixes to use for these namespace URIs, whatever the input used.
    public var preferredPrefixes: [String: String]
    /// Writes as libxml2's serializer does, as libvirt does for elements it keeps opaque
    /// (`<metadata>` of networks): double-quoted attributes, namespace declarations first.
    public var libxml2Style: Bool
    /// Elements (without a namespace) whose contents are written in ``libxml2Style``: those
    /// libvirt keeps as opaque trees and copies out with libxml2 (a domain's `<metadata>`).
    public var opaqueElements: Set<String> = []

    /// Creates a writer.
    public init(preferredPrefixes: [String: String] = [:], libxml2Style: Bool = false) {
        self.preferredPrefixes = preferredPrefixes
        self.libxml2Style = libxml2Style
    }

    /// The document text for `root`, ending with a newline.
    ///
    /// - Parameter rootDeclarations: Namespace declarations to write on the root, in order
    ///   (prefix, URI), after its own attributes.
    public func write(_ root: XMLElement, rootDeclarations: [(String, String)] = []) -> String {
        // Written as UTF-8 bytes into one buffer: no string is built per element or attribute
        // (the daemon formats every definition it stores, on a define's path).
        var out = Output()
        out.bytes.reserveCapacity(4096)
        var scope: [(prefix: String, uri: String)] = []  // innermost last
        append(root, indent: 0, libxml2: libxml2Style, scope: &scope, extraDeclarations: rootDeclarations, to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    func prefix(for namespace: String, original: String?) -> String {
        preferredPrefixes[namespace] ?? original ?? "ns0"
    }

    /// The bytes written so far.
    struct Output {
        var bytes: [UInt8] = []

        mutating func append(_ text: String) {
            var text = text
            text.withUTF8 { bytes.append(contentsOf: $0) }
        }
        mutating func append(_ byte: UInt8) { bytes.append(byte) }
        mutating func indent(_ count: Int) { bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: count)) }
        mutating func qualified(_ prefix: String?, _ name: String) {
            if let prefix {
                append(prefix)
                append(UInt8(ascii: ":"))
            }
            append(name)
        }

        /// `text` escaped as ``XMLTreeWriter/escape(_:attribute:)`` does; in libxml2's style an
        /// attribute's single quote is left as it is (its values are double-quoted).
        mutating func escaped(_ text: String, attribute: Bool, libxml2: Bool = false) {
            // Most values need no escaping: copied whole once a look finds nothing to escape.
            // (Control characters and both quotes take the byte-by-byte way, whatever the context.)
            var text = text
            let plain = text.withUTF8 { utf8 in
                let plain = utf8.allSatisfy { byte in
                    byte >= UInt8(ascii: " ") && byte != UInt8(ascii: "&") && byte != UInt8(ascii: "<") && byte != UInt8(ascii: ">")
                        && byte != UInt8(ascii: "'") && byte != UInt8(ascii: "\"")
                }
                if plain { bytes.append(contentsOf: utf8) }
                return plain
            }
            if plain { return }
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "&"): append("&amp;")
                case UInt8(ascii: "<"): append("&lt;")
                case UInt8(ascii: ">"): append("&gt;")
                case UInt8(ascii: "\r"): append("&#13;")
                case UInt8(ascii: "'") where attribute && !libxml2: append("&apos;")
                case UInt8(ascii: "\"") where attribute: append("&quot;")
                case UInt8(ascii: "\t") where attribute: append("&#9;")
                case UInt8(ascii: "\n") where attribute: append("&#10;")
                default: bytes.append(byte)
                }
            }
        }

        /// An attribute value in the style's quotes.
        mutating func quoted(_ value: String, libxml2: Bool) {
            let quote = libxml2 ? UInt8(ascii: "\"") : UInt8(ascii: "'")
            append(quote)
            escaped(value, attribute: true, libxml2: libxml2)
            append(quote)
        }
    }

    private static func uri(of prefix: String, in scope: [(prefix: String, uri: String)]) -> String? {
        scope.last { $0.prefix == prefix }?.uri
    }

    func append(
        _ element: XMLElement, indent: Int, libxml2: Bool, scope: inout [(prefix: String, uri: String)], extraDeclarations: [(String, String)],
        to out: inout Output
    ) {
        let saved = scope.count
        defer { scope.removeSubrange(saved...) }
        var declarations: [(String, String)] = []
        func declare(_ prefix: String, _ uri: String) {
            guard Self.uri(of: prefix, in: scope) != uri else { return }
            declarations.append((prefix, uri))
            scope.append((prefix, uri))
        }
        for (p, uri) in extraDeclarations { declare(p, uri) }
        var elementPrefix: String?
        if let namespace = element.namespace {
            let p = prefix(for: namespace, original: element.prefix)
            elementPrefix = p
            declare(p, namespace)
        } else if let defaultNamespace = Self.uri(of: "", in: scope), !defaultNamespace.isEmpty {
            declarations.append(("", ""))
            scope.append(("", ""))
        }
        // An attribute's prefix: "xml", a declared one, or none.
        var attributePrefixes: [String?] = []
        if element.attributes.contains(where: { $0.namespace != nil }) {
            for attribute in element.attributes {
                guard let namespace = attribute.namespace else {
                    attributePrefixes.append(nil)
                    continue
                }
                if namespace == "http://www.w3.org/XML/1998/namespace" {
                    attributePrefixes.append("xml")
                } else {
                    let p = prefix(for: namespace, original: attribute.prefix)
                    attributePrefixes.append(p)
                    declare(p, namespace)
                }
            }
        }
        func writeAttributes() {
            for (index, attribute) in element.attributes.enumerated() {
                out.append(UInt8(ascii: " "))
                out.qualified(attributePrefixes.isEmpty ? nil : attributePrefixes[index], attribute.name)
                out.append(UInt8(ascii: "="))
                out.quoted(attribute.value, libxml2: libxml2)
            }
        }
        out.indent(indent)
        out.append(UInt8(ascii: "<"))
        out.qualified(elementPrefix, element.name)
        if !libxml2 { writeAttributes() }
        for (p, uri) in declarations {
            out.append(p.isEmpty ? " xmlns=" : " xmlns:")
            if !p.isEmpty {
                out.append(p)
                out.append(UInt8(ascii: "="))
            }
            out.quoted(uri, libxml2: libxml2)
        }
        if libxml2 { writeAttributes() }
        let childElements = element.children.contains { if case .element = $0 { return true } else { return false } }
        if element.children.isEmpty || (!childElements && element.children.allSatisfy { if case .text(let t) = $0 { t.isEmpty } else { false } }) {
            out.append("/>\n")
            return
        }
        func closingTag() {
            out.append("</")
            out.qualified(elementPrefix, element.name)
            out.append(">\n")
        }
        if !childElements {
            out.append(UInt8(ascii: ">"))
            for case .text(let t) in element.children { out.escaped(t, attribute: false) }
            closingTag()
            return
        }
        if !element.hasOnlyWhitespaceText {
            // Mixed content: keep it exactly, on one line.
            out.append(UInt8(ascii: ">"))
            for child in element.children {
                switch child {
                case .text(let t): out.escaped(t, attribute: false)
                case .element(let e):
                    append(e, indent: 0, libxml2: libxml2, scope: &scope, extraDeclarations: [], to: &out)
                    if out.bytes.last == UInt8(ascii: "\n") { out.bytes.removeLast() }
                }
            }
            closingTag()
            return
        }
        out.append(">\n")
        let childrenInLibxml2Style = libxml2 || (element.namespace == nil && opaqueElements.contains(element.name))
        // By index: a `for case` over the array copies each child it passes.
        for index in element.children.indices {
            guard case .element(let child) = element.children[index] else { continue }
            append(child, indent: indent + 2, libxml2: childrenInLibxml2Style, scope: &scope, extraDeclarations: [], to: &out)
        }
        out.indent(indent)
        closingTag()
    }

    /// Whether `text` holds only characters XML 1.0 can carry (no NUL or other C0 control but
    /// tab, line feed and carriage return; no U+FFFE or U+FFFF), so that it can be written.
    public static func canWrite(_ text: String) -> Bool {
        // On the UTF-8 bytes (a scalar walk costs several times more): C0 controls are single
        // bytes; U+FFFE and U+FFFF are EF BF BE and EF BF BF.
        var text = text
        return text.withUTF8 { bytes in
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                if b < 0x20 {
                    if b != 0x9 && b != 0xA && b != 0xD { return false }
                } else if b == 0xEF, i + 2 < bytes.count, bytes[i + 1] == 0xBF, bytes[i + 2] >= 0xBE {
                    return false
                }
                i += 1
            }
            return true
        }
    }

    /// Escapes text or a single-quoted attribute value so that it reads back unchanged: `&`,
    /// `<`, `>` always; in attributes also both quotes and tab, line feed and carriage return
    /// (which attribute-value normalisation would turn into spaces); in text also carriage
    /// return (which line-end normalisation would drop).
    public static func escape(_ text: String, attribute: Bool) -> String {
        var needs = false
        for b in text.utf8 where b == 38 || b == 60 || b == 62 || b == 13 || (attribute && (b == 39 || b == 34 || b == 9 || b == 10)) {
            needs = true
            break
        }
        guard needs else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\r": out += "&#13;"
            case "'" where attribute: out += "&apos;"
            case "\"" where attribute: out += "&quot;"
            case "\t" where attribute: out += "&#9;"
            case "\n" where attribute: out += "&#10;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

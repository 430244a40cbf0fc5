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
        var out = ""
        var scope: [String: String] = [:]  // prefix -> uri in effect
        append(root, indent: 0, declared: &scope, extraDeclarations: rootDeclarations, to: &out)
        return out
    }

    func prefix(for namespace: String, original: String?) -> String {
        preferredPrefixes[namespace] ?? original ?? "ns0"
    }

    func append(_ element: XMLElement, indent: Int, declared scope: inout [String: String], extraDeclarations: [(String, String)], to out: inout String) {
        let saved = scope
        defer { scope = saved }
        var declarations: [(String, String)] = []
        for (p, uri) in extraDeclarations where scope[p] != uri {
            declarations.append((p, uri))
            scope[p] = uri
        }
        var qualified = element.name
        if let namespace = element.namespace {
            let p = prefix(for: namespace, original: element.prefix)
            qualified = p + ":" + element.name
            if scope[p] != namespace {
                declarations.append((p, namespace))
                scope[p] = namespace
            }
        } else if let defaultNamespace = scope[""], !defaultNamespace.isEmpty {
            declarations.append(("", ""))
            scope[""] = ""
        }
        var attributeTexts: [String] = []
        for attribute in element.attributes {
            var name = attribute.name
            if let namespace = attribute.namespace {
                if namespace == "http://www.w3.org/XML/1998/namespace" {
                    name = "xml:" + attribute.name
                } else {
                    let p = prefix(for: namespace, original: attribute.prefix)
                    name = p + ":" + attribute.name
                    if scope[p] != namespace {
                        declarations.append((p, namespace))
                        scope[p] = namespace
                    }
                }
            }
            attributeTexts.append(" " + name + "=" + quoted(attribute.value))
        }
        out += String(repeating: " ", count: indent)
        out += "<" + qualified
        if !libxml2Style { for text in attributeTexts { out += text } }
        for (p, uri) in declarations {
            out += (p.isEmpty ? " xmlns=" : " xmlns:" + p + "=") + quoted(uri)
        }
        if libxml2Style { for text in attributeTexts { out += text } }
        let childElements = element.children.contains { if case .element = $0 { return true } else { return false } }
        if element.children.isEmpty || (!childElements && element.text.isEmpty) {
            out += "/>\n"
            return
        }
        if !childElements {
            out += ">" + Self.escape(element.text, attribute: false) + "</" + qualified + ">\n"
            return
        }
        if !element.hasOnlyWhitespaceText {
            // Mixed content: keep it exactly, on one line.
            out += ">"
            for child in element.children {
                switch child {
                case .text(let t): out += Self.escape(t, attribute: false)
                case .element(let e):
                    var inline = ""
                    append(e, indent: 0, declared: &scope, extraDeclarations: [], to: &inline)
                    if inline.hasSuffix("\n") { inline.removeLast() }
                    out += inline
                }
            }
            out += "</" + qualified + ">\n"
            return
        }
        out += ">\n"
        if !libxml2Style && element.namespace == nil && opaqueElements.contains(element.name) {
            var contents = self
            contents.libxml2Style = true
            for case .element(let child) in element.children {
                contents.append(child, indent: indent + 2, declared: &scope, extraDeclarations: [], to: &out)
            }
        } else {
            for case .element(let child) in element.children {
                append(child, indent: indent + 2, declared: &scope, extraDeclarations: [], to: &out)
            }
        }
        out += String(repeating: " ", count: indent) + "</" + qualified + ">\n"
    }

    /// An attribute value in the writer's quotes.
    func quoted(_ value: String) -> String {
        guard libxml2Style else { return "'" + Self.escape(value, attribute: true) + "'" }
        // libxml2 escapes the double quote it uses and leaves the single one.
        return "\"" + Self.escape(value, attribute: true).replacingAll("&apos;", with: "'") + "\""
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

extension String {
    /// The string with every `target` replaced by `replacement` (without Foundation).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var out = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}

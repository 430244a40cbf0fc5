/// A small, strict, non-validating XML 1.0 parser producing an ``XMLElement`` tree with
/// namespaces resolved.
///
/// It is safe on hostile input: document type declarations (and so every entity declaration)
/// are refused, only the five predefined entities and character references are expanded, and
/// size, depth and attribute counts are bounded by ``XMLParseLimits``. Errors carry a line.
public enum XMLTreeParser {
    /// Parses `text` and returns its root element.
    public static func parse(_ text: String, limits: XMLParseLimits = XMLParseLimits()) throws(XMLParseError) -> XMLElement {
        guard text.utf8.count <= limits.maximumBytes else {
            throw XMLParseError(line: 1, message: "the document is larger than \(limits.maximumBytes) bytes")
        }
        var copy = text
        let result = copy.withUTF8 { bytes -> Result<XMLElement, XMLParseError> in
            var cursor = Cursor(bytes: bytes, limits: limits)
            do throws(XMLParseError) {
                return .success(try cursor.document())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

private struct Cursor {
    let bytes: UnsafeBufferPointer<UInt8>
    let limits: XMLParseLimits
    var index = 0
    var line = 1
    /// Namespace scopes: each element that declares prefixes pushes them ("" = default
    /// namespace); the `xml` prefix is bound without a scope. An element declaring none pushes
    /// nothing, so that a document without namespaces resolves without a lookup.
    var scopes: [[String: String]] = []
    static let xmlNamespace = "http://www.w3.org/XML/1998/namespace"

    init(bytes: UnsafeBufferPointer<UInt8>, limits: XMLParseLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    func fail(_ message: String) -> XMLParseError { XMLParseError(line: line, message: message) }

    var atEnd: Bool { index >= bytes.count }
    func peek(_ offset: Int = 0) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }

    mutating func advance() {
        if bytes[index] == 10 { line += 1 }
        index += 1
    }

    func starts(with literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        let p = literal.utf8Start
        for i in 0..<count where bytes[index + i] != p[i] { return false }
        return true
    }

    mutating func skip(_ literal: StaticString) { for _ in 0..<literal.utf8CodeUnitCount { advance() } }

    static func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 }
    static func isNameStart(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 || b == 58 || b >= 0x80 }
    static func isNameChar(_ b: UInt8) -> Bool { isNameStart(b) || (b >= 48 && b <= 57) || b == 45 || b == 46 }

    mutating func skipSpace() { while let b = peek(), Self.isSpace(b) { advance() } }

    func string(_ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self)
    }

    mutating func document() throws(XMLParseError) -> XMLElement {
        try refuseForbiddenCharacters()
        if starts(with: "\u{FEFF}") { skip("\u{FEFF}") }
        try misc(allowDeclaration: true)
        guard peek() == UInt8(ascii: "<") else { throw fail(atEnd ? "the document is empty" : "text before the root element") }
        let root = try element(depth: 1)
        try misc(allowDeclaration: false)
        if !atEnd { throw fail("content after the root element") }
        return root
    }

    /// XML 1.0 §2.2: no C0 control other than tab, line feed and carriage return, and neither
    /// U+FFFE nor U+FFFF, anywhere in the document (the text is already valid UTF-8, so
    /// surrogates cannot occur).
    func refuseForbiddenCharacters() throws(XMLParseError) {
        var line = 1
        var i = 0
        let count = bytes.count
        while i < count {
            let b = bytes[i]
            if b < 0x20 {
                if b == 10 {
                    line += 1
                } else if b != 9 && b != 13 {
                    throw XMLParseError(line: line, message: "the control character U+\(Self.hex(UInt32(b))) is not allowed in XML")
                }
            } else if b == 0xEF, i + 2 < count, bytes[i + 1] == 0xBF, bytes[i + 2] == 0xBE || bytes[i + 2] == 0xBF {
                throw XMLParseError(line: line, message: "the character U+\(bytes[i + 2] == 0xBE ? "FFFE" : "FFFF") is not allowed in XML")
            }
            i += 1
        }
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// XML 1.0's `Char` production: what a character reference may name.
    static func isXMLCharacter(_ value: UInt32) -> Bool {
        switch value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    /// Whitespace, comments, processing instructions; refuses DOCTYPE.
    mutating func misc(allowDeclaration: Bool) throws(XMLParseError) {
        while true {
            skipSpace()
            if starts(with: "<?") {
                let isDeclaration = starts(with: "<?xml") && peek(5).map(Self.isSpace) == true
                if isDeclaration && !allowDeclaration {
                    throw fail("an XML declaration may only start the document")
                }
                try skipUntil("?>", what: "processing instruction")
            } else if starts(with: "<!--") {
                try comment()
            } else if starts(with: "<!DOCTYPE") || starts(with: "<!doctype") {
                throw fail("document type declarations (DTDs) are not accepted")
            } else if starts(with: "<!") {
                throw fail("declarations ('<!') are not accepted")
            } else {
                return
            }
        }
    }

    mutating func skipUntil(_ terminator: StaticString, what: String) throws(XMLParseError) {
        let startLine = line
        while !atEnd {
            if starts(with: terminator) {
                skip(terminator)
                return
            }
            advance()
        }
        throw XMLParseError(line: startLine, message: "unterminated \(what)")
    }

    mutating func comment() throws(XMLParseError) {
        skip("<!--")
        let startLine = line
        while !atEnd {
            if starts(with: "--") {
                guard peek(2) == UInt8(ascii: ">") else { throw fail("'--' inside a comment") }
                skip("-->")
                return
            }
            advance()
        }
        throw XMLParseError(line: startLine, message: "unterminated comment")
    }

    mutating func name() throws(XMLParseError) -> String {
        let start = index
        guard let first = peek(), Self.isNameStart(first) else { throw fail("expected a name") }
        advance()
        while let b = peek(), Self.isNameChar(b) { advance() }
        return string(start, index)
    }

    static func split(_ qualified: String) -> (prefix: String?, local: String) {
        // Looked for in the UTF-8 bytes (a walk over characters costs their grapheme
        // breaking, for every name read); an ASCII byte's index is a character boundary.
        let bytes = qualified.utf8
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return (nil, qualified) }
        return (String(qualified[..<colon]), String(qualified[bytes.index(after: colon)...]))
    }

    func resolve(_ prefix: String) -> String? {
        for scope in scopes.reversed() { if let uri = scope[prefix] { return uri } }
        return prefix == "xml" ? Self.xmlNamespace : nil
    }

    mutating func element(depth: Int) throws(XMLParseError) -> XMLElement {
        guard depth <= limits.maximumDepth else { throw fail("elements are nested deeper than \(limits.maximumDepth)") }
        let startLine = line
        advance()  // <
        let qualified = try name()
        var rawAttributes: [(String, String, Int)] = []
        var declarations: [String: String] = [:]
        while true {
            let hadSpace = peek().map(Self.isSpace) ?? false
            skipSpace()
            guard let b = peek() else { throw fail("unterminated start tag <\(qualified)>") }
            if b == UInt8(ascii: ">") || b == UInt8(ascii: "/") { break }
            guard hadSpace else { throw fail("attributes must be separated by whitespace in <\(qualified)>") }
            let attributeLine = line
            let attribute = try name()
            skipSpace()
            guard peek() == UInt8(ascii: "=") else { throw fail("expected '=' after the attribute '\(attribute)'") }
            advance()
            skipSpace()
            let value = try attributeValue()
            if attribute == "xmlns" {
                declarations[""] = value
            } else if attribute.utf8.starts(with: "xmlns:".utf8) {
                let prefix = String(attribute.dropFirst(6))
                guard !value.isEmpty else { throw fail("the namespace prefix '\(prefix)' cannot be undeclared") }
                declarations[prefix] = value
            } else {
                guard !rawAttributes.contains(where: { $0.0 == attribute }) else { throw fail("the attribute '\(attribute)' appears twice on <\(qualified)>") }
                rawAttributes.append((attribute, value, attributeLine))
                guard rawAttributes.count <= limits.maximumAttributes else { throw fail("more than \(limits.maximumAttributes) attributes on <\(qualified)>") }
            }
        }
        let declares = !declarations.isEmpty
        if declares { scopes.append(declarations) }
        defer { if declares { scopes.removeLast() } }
        let (prefix, local) = Self.split(qualified)
        var namespace: String?
        if let prefix {
            guard let uri = resolve(prefix) else { throw XMLParseError(line: startLine, message: "the namespace prefix '\(prefix)' of <\(qualified)> is not declared") }
            namespace = uri
        } else if let uri = resolve(""), !uri.isEmpty {
            namespace = uri
        }
        var attributes: [XMLAttribute] = []
        attributes.reserveCapacity(rawAttributes.count)
        for (qualifiedAttribute, value, attributeLine) in rawAttributes {
            let (attributePrefix, attributeLocal) = Self.split(qualifiedAttribute)
            if let attributePrefix {
                guard let uri = resolve(attributePrefix) else {
                    throw XMLParseError(line: attributeLine, message: "the namespace prefix '\(attributePrefix)' of the attribute '\(qualifiedAttribute)' is not declared")
                }
                attributes.append(XMLAttribute(name: attributeLocal, value: value, namespace: uri, prefix: attributePrefix))
            } else {
                attributes.append(XMLAttribute(name: attributeLocal, value: value))
            }
        }
        var element = XMLElement(name: local, namespace: namespace, prefix: prefix, attributes: attributes, line: startLine)
        if peek() == UInt8(ascii: "/") {
            advance()
            guard peek() == UInt8(ascii: ">") else { throw fail("expected '>' after '/' in <\(qualified)>") }
            advance()
            return element
        }
        advance()  // >
        try content(of: &element, qualified: qualified, depth: depth)
        return element
    }

    mutating func content(of element: inout XMLElement, qualified: String, depth: Int) throws(XMLParseError) {
        var text: [UInt8] = []
        func flush(_ element: inout XMLElement, _ text: inout [UInt8]) {
            if !text.isEmpty {
                element.children.append(.text(String(decoding: text, as: UTF8.self)))
                text.removeAll(keepingCapacity: true)
            }
        }
        while true {
            guard let b = peek() else { throw XMLParseError(line: element.line, message: "<\(qualified)> is never closed") }
            if b == UInt8(ascii: "<") {
                if starts(with: "</") {
                    skip("</")
                    let closing = try name()
                    guard closing == qualified else { throw fail("</\(closing)> closes <\(qualified)> (opened on line \(element.line))") }
                    skipSpace()
                    guard peek() == UInt8(ascii: ">") else { throw fail("expected '>' in </\(closing)>") }
                    advance()
                    flush(&element, &text)
                    return
                } else if starts(with: "<!--") {
                    try comment()
                } else if starts(with: "<![CDATA[") {
                    skip("<![CDATA[")
                    let startLine = line
                    while true {
                        guard !atEnd else { throw XMLParseError(line: startLine, message: "unterminated CDATA section") }
                        if starts(with: "]]>") {
                            skip("]]>")
                            break
                        }
                        text.append(bytes[index])
                        advance()
                    }
                } else if starts(with: "<?") {
                    try skipUntil("?>", what: "processing instruction")
                } else if starts(with: "<!") {
                    throw fail("declarations ('<!') are not accepted inside elements")
                } else {
                    flush(&element, &text)
                    element.children.append(.element(try self.element(depth: depth + 1)))
                }
            } else if b == UInt8(ascii: "&") {
                try reference(into: &text)
            } else if b == 13 {
                // Line ends are normalised to LF (XML 1.0 §2.11).
                advance()
                if peek() != 10 { text.append(10) }
            } else {
                if b == UInt8(ascii: ">") && text.count >= 2 && text[text.count - 1] == UInt8(ascii: "]") && text[text.count - 2] == UInt8(ascii: "]") {
                    throw fail("']]>' is not allowed in text")
                }
                text.append(b)
                advance()
            }
        }
    }

    mutating func attributeValue() throws(XMLParseError) -> String {
        guard let quote = peek(), quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else { throw fail("attribute values must be quoted") }
        advance()
        var value: [UInt8] = []
        while true {
            guard let b = peek() else { throw fail("unterminated attribute value") }
            if b == quote {
                advance()
                return String(decoding: value, as: UTF8.self)
            }
            if b == UInt8(ascii: "<") { throw fail("'<' is not allowed in an attribute value") }
            if b == UInt8(ascii: "&") {
                try reference(into: &value)
            } else if b == 9 || b == 10 || b == 13 {
                // Attribute-value normalisation (XML 1.0 §3.3.3).
                advance()
                if b == 13 && peek() == 10 { advance() }
                value.append(32)
            } else {
                value.append(b)
                advance()
            }
        }
    }

    mutating func reference(into out: inout [UInt8]) throws(XMLParseError) {
        advance()  // &
        let start = index
        while let b = peek(), b != UInt8(ascii: ";") {
            guard index - start < 12 else { throw fail("malformed entity reference") }
            advance()
        }
        guard !atEnd else { throw fail("unterminated entity reference") }
        let name = string(start, index)
        advance()  // ;
        switch name {
        case "lt": out.append(UInt8(ascii: "<"))
        case "gt": out.append(UInt8(ascii: ">"))
        case "amp": out.append(UInt8(ascii: "&"))
        case "apos": out.append(UInt8(ascii: "'"))
        case "quot": out.append(UInt8(ascii: "\""))
        default:
            guard name.hasPrefix("#") else { throw fail("undefined entity '&\(name);' (only the five predefined entities are accepted)") }
            let digits = name.dropFirst()
            let value = digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
            guard let value, Self.isXMLCharacter(value), let scalar = Unicode.Scalar(value) else {
                throw fail("invalid character reference '&\(name);': XML does not allow that character")
            }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
    }
}

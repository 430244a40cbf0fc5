/// An attribute of an ``XMLElement``.
public struct XMLAttribute: Hashable, Sendable {
    /// The local name.
    public var name: String
    /// The namespace URI, for a prefixed attribute; `nil` for a plain one.
    public var namespace: String?
    /// The prefix it was written with, if any.
    public var prefix: String?
    /// The value, with entities decoded.
    public var value: String

    /// Creates an attribute.
    public init(name: String, value: String, namespace: String? = nil, prefix: String? = nil) {
        self.name = name
        self.value = value
        self.namespace = namespace
        self.prefix = prefix
    }
}

/// A child of an ``XMLElement``: an element or a run of text.
public enum XMLNode: Hashable, Sendable {
    /// A child element.
    case element(XMLElement)
    /// Character data (entities decoded, CDATA included).
    case text(String)

    /// Whether this is an element named `name` in `namespace` (read in place, not copied out).
    @inlinable
    public func isElement(named name: String, namespace: String? = nil) -> Bool {
        switch self {
        case .element(let e): e.name == name && e.namespace == namespace
        case .text: false
        }
    }
}

/// An element of a parsed document, with namespaces resolved.
///
/// Attributes keep their order; children keep theirs, text included. Comments and processing
/// instructions are not kept.
public struct XMLElement: Hashable, Sendable {
    /// The local name.
    public var name: String
    /// The namespace URI, or `nil` for no namespace.
    public var namespace: String?
    /// The prefix it was written with (`nil` for none or the default namespace).
    public var prefix: String?
    /// The attributes, in document order (namespace declarations excluded).
    public var attributes: [XMLAttribute]
    /// The children, in document order.
    public var children: [XMLNode]
    /// The 1-based line of the start tag (0 for elements built in code).
    public var line: Int

    /// Creates an element.
    public init(name: String, namespace: String? = nil, prefix: String? = nil, attributes: [XMLAttribute] = [], children: [XMLNode] = [], line: Int = 0) {
        self.name = name
        self.namespace = namespace
        self.prefix = prefix
        self.attributes = attributes
        self.children = children
        self.line = line
    }

    /// The value of the plain (un-namespaced) attribute `name`.
    ///
    /// This and the reads below walk their arrays by index, and the small ones are inlinable:
    /// a `for case` over `children` or a `first(where:)` copies each element it passes (a
    /// reference count up and down for its arrays), and the normaliser reads the tree thousands
    /// of times per define.
    public subscript(attribute name: String) -> String? {
        @inlinable get {
            var index = attributes.startIndex
            while index < attributes.endIndex {
                if attributes[index].name == name && attributes[index].namespace == nil { return attributes[index].value }
                index += 1
            }
            return nil
        }
        set {
            if let index = attributes.firstIndex(where: { $0.name == name && $0.namespace == nil }) {
                if let newValue { attributes[index].value = newValue } else { attributes.remove(at: index) }
            } else if let newValue {
                attributes.append(XMLAttribute(name: name, value: newValue))
            }
        }
    }

    /// The child elements, in order.
    public var elements: [XMLElement] {
        var result: [XMLElement] = []
        result.reserveCapacity(children.count)
        for index in children.indices {
            if case .element(let e) = children[index] { result.append(e) }
        }
        return result
    }

    /// The child elements named `name` in `namespace` (no namespace by default).
    public func elements(named name: String, namespace: String? = nil) -> [XMLElement] {
        var result: [XMLElement] = []
        for index in children.indices where children[index].isElement(named: name, namespace: namespace) {
            if case .element(let e) = children[index] { result.append(e) }
        }
        return result
    }

    /// The first child element named `name` in `namespace`.
    @inlinable
    public func element(named name: String, namespace: String? = nil) -> XMLElement? {
        var index = children.startIndex
        while index < children.endIndex {
            if children[index].isElement(named: name, namespace: namespace), case .element(let e) = children[index] { return e }
            index += 1
        }
        return nil
    }

    /// Whether a child element is named `name` in `namespace`.
    @inlinable
    public func hasElement(named name: String, namespace: String? = nil) -> Bool {
        var index = children.startIndex
        while index < children.endIndex {
            if children[index].isElement(named: name, namespace: namespace) { return true }
            index += 1
        }
        return false
    }

    /// All text directly inside this element, concatenated.
    public var text: String {
        var result = ""
        for case .text(let t) in children { result += t }
        return result
    }

    /// Whether every text child is whitespace.
    public var hasOnlyWhitespaceText: Bool {
        for case .text(let t) in children where !t.isAllWhitespace { return false }
        return true
    }

    /// Replaces the text content with `text` (removing any child elements).
    public mutating func setText(_ text: String) {
        children = text.isEmpty ? [] : [.text(text)]
    }

    /// Removes the child elements `shouldRemove` picks. When none is left, the indentation
    /// around them goes too, so that the element is written empty (`<pci-root/>`), not with
    /// the whitespace that stood between its children.
    public mutating func removeElements(where shouldRemove: (XMLElement) -> Bool) {
        children.removeAll { if case .element(let e) = $0 { shouldRemove(e) } else { false } }
        if !children.contains(where: { if case .element = $0 { true } else { false } }), hasOnlyWhitespaceText { children = [] }
    }

    /// Calls `body` on each child element, allowing it to change it.
    ///
    /// Each child is moved out of `children` while `body` runs, so it is the only reference to
    /// its attributes and children and changes them in place (a copy left in the array would
    /// make every change copy them: the normalizer's nested updates were a tenth of a define).
    public mutating func updateElements(_ body: (inout XMLElement) throws -> Void) rethrows {
        for index in children.indices { try updateElement(at: index, body) }
    }

    /// Calls `body` on the child at `index` when it is an element, allowing it to change it in
    /// place (moved out while `body` runs, as in ``updateElements(_:)``).
    public mutating func updateElement(at index: Int, _ body: (inout XMLElement) throws -> Void) rethrows {
        // Swapped out and consumed, and put back consumed: moved, not copied (no reference
        // counting per child; a `defer` writing it back made the compiler copy it).
        guard case .element = children[index] else { return }
        var node = Self.placeholder
        swap(&node, &children[index])
        guard case .element(var element) = consume node else { return }
        do {
            try body(&element)
        } catch {
            children[index] = .element(consume element)
            throw error
        }
        children[index] = .element(consume element)
    }

    /// What stands in a child's place while it is moved out (no allocation).
    private static let placeholder = XMLNode.text("")
}

extension String {
    /// Whether every character is whitespace (`Character.isWhitespace`); true when empty.
    ///
    /// Read from the UTF-8 bytes when they answer (the indentation between elements is ASCII):
    /// a walk over characters costs their grapheme breaking, and the tree's text is checked
    /// this way for every element written and every child list ordered.
    @inlinable
    public var isAllWhitespace: Bool {
        var hasNonASCII = false
        for byte in utf8 {
            switch byte {
            case 0x09...0x0D, 0x20: continue
            // An ASCII character other than those starts a character that is not whitespace
            // (or follows a non-whitespace scalar in its character).
            case 0..<0x80: return false
            default: hasNonASCII = true
            }
        }
        return !hasNonASCII || allSatisfy(\.isWhitespace)
    }
}

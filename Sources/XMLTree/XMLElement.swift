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
    public subscript(attribute name: String) -> String? {
        get { attributes.first { $0.name == name && $0.namespace == nil }?.value }
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
        children.compactMap { if case .element(let e) = $0 { return e } else { return nil } }
    }

    /// The child elements named `name` in `namespace` (no namespace by default).
    public func elements(named name: String, namespace: String? = nil) -> [XMLElement] {
        elements.filter { $0.name == name && $0.namespace == namespace }
    }

    /// The first child element named `name` in `namespace`.
    public func element(named name: String, namespace: String? = nil) -> XMLElement? {
        for case .element(let e) in children where e.name == name && e.namespace == namespace { return e }
        return nil
    }

    /// All text directly inside this element, concatenated.
    public var text: String {
        var result = ""
        for case .text(let t) in children { result += t }
        return result
    }

    /// Whether every text child is whitespace.
    public var hasOnlyWhitespaceText: Bool {
        for case .text(let t) in children where t.contains(where: { !$0.isWhitespace }) { return false }
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
        // Swapped out and consumed: moved, not copied (no reference counting per child).
        var node = Self.placeholder
        swap(&node, &children[index])
        switch consume node {
        case .element(var e):
            defer { children[index] = .element(e) }
            try body(&e)
        case let text:
            children[index] = text
        }
    }

    /// What stands in a child's place while it is moved out (no allocation).
    private static let placeholder = XMLNode.text("")
}

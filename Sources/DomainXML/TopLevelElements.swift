public import XMLTree

/// Edits of a domain document's top-level elements (`<cputune>`, `<memtune>`, …) that keep
/// libvirt's element order.
public enum TopLevelElements {
    /// `document` with its `name` element replaced by `element` (removed when `nil`), or
    /// `element` inserted where libvirt's order puts it.
    public static func setting(_ name: String, to element: XMLElement?, in document: XMLElement) -> XMLElement {
        var document = document
        let existing = document.children.firstIndex { if case .element(let e) = $0, e.name == name, e.namespace == nil { true } else { false } }
        if let existing {
            if let element { document.children[existing] = .element(element) } else { document.children.remove(at: existing) }
            return document
        }
        guard let element else { return document }
        let order = DomainNormalizer.topLevelOrder
        let rank = order.firstIndex(of: name) ?? order.count
        var position = 0
        for (index, node) in document.children.enumerated() {
            guard case .element(let e) = node, e.namespace == nil, let other = order.firstIndex(of: e.name) else { continue }
            if other < rank { position = index + 1 }
        }
        document.children.insert(.element(element), at: position)
        return document
    }

    /// `document` with a child `child` of its `parent` element set to `text` (removed when
    /// `nil`); the parent is made when missing and dropped when left empty.
    public static func settingChild(_ child: String, of parent: String, text: String?, attributes: [XMLAttribute] = [], in document: XMLElement) -> XMLElement {
        var element = document.element(named: parent) ?? XMLElement(name: parent)
        element.children.removeAll { if case .element(let e) = $0, e.name == child, e.namespace == nil { true } else { false } }
        if let text { element.children.append(.element(XMLElement(name: child, attributes: attributes, children: [.text(text)]))) }
        let empty = !element.children.contains { if case .element = $0 { true } else { false } }
        return setting(parent, to: empty ? nil : element, in: document)
    }
}

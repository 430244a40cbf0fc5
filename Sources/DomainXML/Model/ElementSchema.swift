import XMLTree

/// What Corral understands of one element of the domain XML: its attributes and the child
/// elements it models. Each model type declares its own (``ModelledElement``); the check for
/// unmodelled XML (``DomainSchema``) walks these, so there is no separate list to keep in step.
struct ElementSchema: Sendable {
    var name: String
    var attributes: [String]
    var children: [ElementSchema]

    init(_ name: String, attributes: [String] = [], children: [ElementSchema] = []) {
        self.name = name
        self.attributes = attributes
        self.children = children
    }

    /// An element holding only text.
    static func text(_ name: String, attributes: [String] = []) -> ElementSchema { ElementSchema(name, attributes: attributes) }

    /// `<alias name>`, which every device may carry.
    static let alias = ElementSchema("alias", attributes: ["name"])
    /// `<address>`, which every device may carry.
    static let address = ElementSchema("address", attributes: ["type", "domain", "bus", "slot", "function", "multifunction", "controller", "target", "unit", "port", "iobase", "irq", "base"])
    /// `<boot order>` of a bootable device.
    static let boot = ElementSchema("boot", attributes: ["order"])
    /// `<acpi index>` of a PCI device (modelled where the device's type reads it).
    static let acpi = ElementSchema("acpi", attributes: ["index"])

    /// The child named `name`.
    func child(_ name: String) -> ElementSchema? { children.first { $0.name == name } }
}

/// A model type that stands for one element of the domain XML.
protocol ModelledElement {
    /// The element's schema.
    static var schema: ElementSchema { get }
}

/// A closed set of values of an attribute, spelled as libvirt spells them.
protocol ModelledValue: RawRepresentable<String>, CaseIterable, Sendable, Hashable {}

extension ModelledValue {
    /// The value of `attribute` of `element`, or `fallback` when the element or the attribute is
    /// absent; an unknown spelling is invalid, with libvirt's wording.
    static func attribute(_ attribute: String, of element: XMLElement?, default fallback: Self) throws(DomainXMLError) -> Self {
        try optionalAttribute(attribute, of: element) ?? fallback
    }

    /// The value of `attribute` of `element` when present.
    static func optionalAttribute(_ attribute: String, of element: XMLElement?) throws(DomainXMLError) -> Self? {
        guard let element, let text = element[attribute: attribute] else { return nil }
        guard let value = Self(rawValue: text) else {
            throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(attribute)' in element '\(element.name)': '\(text)'.")
        }
        return value
    }

    /// The value of `attribute` of `element`, which must be present.
    static func requiredAttribute(_ attribute: String, of element: XMLElement) throws(DomainXMLError) -> Self {
        guard let value = try optionalAttribute(attribute, of: element) else {
            throw DomainXMLError(.invalid, line: element.line, "Missing required attribute '\(attribute)' in element '\(element.name)'")
        }
        return value
    }
}

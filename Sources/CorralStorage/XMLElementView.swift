import XMLTree

/// The parsed element with the few lookups the storage readers need.
typealias XMLElementView = XMLElement

extension XMLElement {
    /// The trimmed text of the first child element called `name`, or `nil` when absent or empty.
    func childText(_ name: String) -> String? {
        guard let child = element(named: name) else { return nil }
        let text = child.text.trimmingCharacters(in: " \t\n\r")
        return text.isEmpty ? nil : text
    }
}

/// Escaping for text the storage formatters write.
enum XMLText {
    static func escape(_ text: String) -> String { XMLTreeWriter.escape(text, attribute: false) }
    static func attribute(_ text: String) -> String { XMLTreeWriter.escape(text, attribute: true) }
}

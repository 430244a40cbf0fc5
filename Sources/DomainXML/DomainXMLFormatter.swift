public import XMLTree

/// Writes a normalised `<domain>` as libvirt does: `xmlns:qemu` declared on the root right after
/// its attributes (when the namespace is used), two-space indentation, single quotes; the
/// contents of `<metadata>` as libxml2 writes them (double quotes), since libvirt copies them out
/// with it.
public enum DomainXMLFormatter {
    /// The document text.
    public static func format(_ document: XMLElement) -> String {
        let usesQEMU = document.children.contains { if case .element(let e) = $0 { e.namespace == qemuNamespaceURI } else { false } }
        return writer.write(document, rootDeclarations: usesQEMU ? [("qemu", qemuNamespaceURI)] : [])
    }

    /// The writer for domain documents (made once: every define formats its definition).
    private static let writer: XMLTreeWriter = {
        var writer = XMLTreeWriter(preferredPrefixes: [qemuNamespaceURI: "qemu"])
        writer.opaqueElements = ["metadata"]
        return writer
    }()

    /// The live form of the document: `id` on the root after `type` (for a running domain).
    public static func format(_ document: XMLElement, id: Int) -> String {
        var live = document
        live.attributes = live.attributes.filter { $0.name != "id" }
        let position = live.attributes.firstIndex { $0.name == "type" }.map { $0 + 1 } ?? 0
        live.attributes.insert(XMLAttribute(name: "id", value: String(id)), at: position)
        return format(live)
    }
}

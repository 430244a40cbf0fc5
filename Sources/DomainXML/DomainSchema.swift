import XMLTree

/// The elements and attributes Corral models, by path below `<domain>`. Anything else in a
/// definition is kept and written back, and listed as unmodelled so that starting a domain that
/// relies on it fails with a clear error instead of silently ignoring it.
enum DomainSchema {
    struct Node {
        var attributes: Set<String>
        var children: Set<String>
    }

    /// Path (`domain/devices/disk/target`) → what is modelled there, derived from the model
    /// types' schemas (``ModelledElement``). Device children shared by every device (alias,
    /// address, boot) are also found under `domain/devices/*/`.
    static let table: [String: Node] = {
        var table: [String: Node] = [:]
        func add(_ schema: ElementSchema, path: String) {
            table[path] = Node(attributes: Set(schema.attributes), children: Set(schema.children.map(\.name)))
            for child in schema.children { add(child, path: path + "/" + child.name) }
        }
        add(DomainDefinition.schema, path: "domain")
        for shared in [ElementSchema.alias, .address, .boot] { add(shared, path: "domain/devices/*/" + shared.name) }
        // A nested layer is read as the first (``node(for:)``), not as an empty element.
        table["domain/devices/disk/backingStore/backingStore"] = nil
        return table
    }()

    /// Everything under `root` that Corral does not model, as "what (line N)" strings.
    static func unmodelled(in root: XMLElement) -> [String] {
        var found: [String] = []
        walk(root, path: "domain", found: &found)
        return found
    }

    static func node(for path: String) -> Node? {
        if let node = table[path] { return node }
        // A backing chain nests `<backingStore>` in `<backingStore>`: every layer is read as the first.
        let components = path.split(separator: "/")
        if zip(components, components.dropFirst()).contains(where: { $0 == "backingStore" && $1 == "backingStore" }) {
            var collapsed: [Substring] = []
            for component in components where !(component == "backingStore" && collapsed.last == "backingStore") { collapsed.append(component) }
            return node(for: collapsed.joined(separator: "/"))
        }
        // domain/devices/<device>/<child> → domain/devices/*/<child>
        if components.count == 4, components[1] == "devices" { return table["domain/devices/*/\(components[3])"] }
        return nil
    }

    static func walk(_ element: XMLElement, path: String, found: inout [String]) {
        guard let node = node(for: path) else { return }
        // How the element is named in a finding: made only when there is one.
        func shown() -> String { path.dropFirst("domain".count).isEmpty ? "<domain>" : "<\(path.dropFirst("domain/".count))>" }
        for attribute in element.attributes where attribute.namespace != nil || !node.attributes.contains(attribute.name) {
            found.append("attribute '\(attribute.name)' of \(shown()) (line \(element.line))")
        }
        let isRoot = path == "domain"
        for case .element(let child) in element.children {
            if isRoot && child.namespace == qemuNamespaceURI { continue }  // the namespace, handled itself
            if isRoot && child.name == "metadata" && child.namespace == nil { continue }  // opaque by design
            if child.namespace != nil || !node.children.contains(child.name) {
                let name = child.prefix.map { "\($0):\(child.name)" } ?? child.name
                found.append("element <\(isRoot ? "" : String(path.dropFirst("domain/".count)) + "/")\(name)> (line \(child.line))")
                continue
            }
            walk(child, path: path + "/" + child.name, found: &found)
        }
    }
}

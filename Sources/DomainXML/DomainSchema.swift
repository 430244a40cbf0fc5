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
        var found: [String] = [], names: [String] = []
        walk(root, node: 0, names: &names, found: &found)
        return found
    }

    static func node(for path: String) -> Node? { resolvedPath(for: path).flatMap { table[$0] } }

    /// The key of ``table`` that describes the element at `path`, if any.
    static func resolvedPath(for path: String) -> String? {
        if table[path] != nil { return path }
        // A backing chain nests `<backingStore>` in `<backingStore>`: every layer is read as the first.
        let components = path.split(separator: "/")
        if zip(components, components.dropFirst()).contains(where: { $0 == "backingStore" && $1 == "backingStore" }) {
            var collapsed: [Substring] = []
            for component in components where !(component == "backingStore" && collapsed.last == "backingStore") { collapsed.append(component) }
            return resolvedPath(for: collapsed.joined(separator: "/"))
        }
        // domain/devices/<device>/<child> → domain/devices/*/<child>
        if components.count == 4, components[1] == "devices" {
            let shared = "domain/devices/*/\(components[3])"
            return table[shared] != nil ? shared : nil
        }
        return nil
    }

    /// ``table`` as a graph the walk follows without building or hashing paths: each node with
    /// its child elements' nodes by name (resolved once, with ``resolvedPath(for:)``, so a
    /// nested backing store leads back to the first layer's node). The root is at 0.
    struct WalkNode: Sendable {
        var attributes: Set<String>
        /// Every child element the schema knows, with its node; ``leaf`` for one whose
        /// content is not walked (one hash per child, not a set and then a table).
        var children: [String: Int]
    }

    /// A known child element without a node of its own.
    static let leaf = -1

    static let walkNodes: [WalkNode] = {
        var indexes: [String: Int] = [:]
        var nodes: [WalkNode] = []
        func intern(_ key: String) -> Int {
            if let index = indexes[key] { return index }
            let node = table[key]!
            let index = nodes.count
            indexes[key] = index
            nodes.append(WalkNode(attributes: node.attributes, children: [:]))
            var children: [String: Int] = [:]
            for name in node.children {
                children[name] = resolvedPath(for: key + "/" + name).map { intern($0) } ?? leaf
            }
            nodes[index].children = children
            return index
        }
        _ = intern("domain")
        return nodes
    }()

    /// Appends what `element` (at node `index`, named by `names` below `<domain>`) holds that
    /// Corral does not model.
    static func walk(_ element: XMLElement, node index: Int, names: inout [String], found: inout [String]) {
        // How the element is named in a finding: made only when there is one.
        func shown() -> String { names.isEmpty ? "<domain>" : "<\(names.joined(separator: "/"))>" }
        // The node is read once (each `walkNodes[index]` would copy its set and table), and
        // the element's arrays by index (a `for` over them copies each item it passes).
        let node = walkNodes[index]
        for position in element.attributes.indices {
            let attribute = element.attributes[position]
            guard attribute.namespace != nil || !node.attributes.contains(attribute.name) else { continue }
            found.append("attribute '\(attribute.name)' of \(shown()) (line \(element.line))")
        }
        let isRoot = names.isEmpty
        for position in element.children.indices {
            guard case .element(let child) = element.children[position] else { continue }
            if isRoot && child.namespace == qemuNamespaceURI { continue }  // the namespace, handled itself
            if isRoot && child.name == "metadata" && child.namespace == nil { continue }  // opaque by design
            guard child.namespace == nil, let childIndex = node.children[child.name] else {
                let name = child.prefix.map { "\($0):\(child.name)" } ?? child.name
                found.append("element <\(isRoot ? "" : names.joined(separator: "/") + "/")\(name)> (line \(child.line))")
                continue
            }
            guard childIndex != leaf else { continue }
            names.append(child.name)
            walk(child, node: childIndex, names: &names, found: &found)
            names.removeLast()
        }
    }
}

import DomainXML
import XMLTree

/// `<iothreads>` and `<iothreadids>` edits on a domain document, for `iothreadadd` and
/// `iothreaddel` (libvirt's `virDomainIOThreadIDAdd` and `virDomainIOThreadIDDel`).
enum IOThreadDocument {
    /// The I/O thread ids of `document`, as libvirt numbers them (none if it does not say).
    static func ids(_ document: XMLElement) -> [Int] {
        (try? DomainDefinition.ioThreads(document)) ?? []
    }

    /// Adds I/O thread `id`: the count grows and `<iothreadids>` lists every id, the new one
    /// last (libvirt lists them once an id was chosen by a client).
    static func add(_ document: inout XMLElement, id: Int) {
        setThreads(&document, ids(document) + [id], listed: true)
    }

    /// Removes I/O thread `id` and its `<iothreadpin>`. The list stays when the document had
    /// one, and is written when the ids left are not 1…n, so that reading the document again
    /// gives the same ids (libvirt 9.0 drops a list it filled in itself, which renumbers them).
    static func remove(_ document: inout XMLElement, id: Int) {
        let left = ids(document).filter { $0 != id }
        let renumbered = left.enumerated().contains { $0.offset + 1 != $0.element }
        let listed = document.element(named: "iothreadids") != nil || renumbered
        setThreads(&document, left, listed: listed)
        VcpuDocument.setIOThreadPin(&document, ioThread: id, cpus: nil)
    }

    /// What uses I/O thread `id` in `document`: libvirt's refusal to remove it, or `nil`.
    static func user(of id: Int, in document: XMLElement) -> String? {
        let devices = document.element(named: "devices")
        for disk in devices?.elements(named: "disk") ?? [] where disk.element(named: "driver")?[attribute: "iothread"] == String(id) {
            return "cannot remove IOThread \(id) since it is being used by disk '\(disk.element(named: "target")?[attribute: "dev"] ?? "")'"
        }
        for controller in devices?.elements(named: "controller") ?? [] where controller.element(named: "driver")?[attribute: "iothread"] == String(id) {
            return "cannot remove IOThread '\(id)' since it is being used by controller"
        }
        return nil
    }

    /// I/O thread `id`'s worker pool in `document` (`nil` for a size it does not set).
    static func pool(of id: Int, in document: XMLElement) -> (minimum: Int32?, maximum: Int32?) {
        let thread = document.element(named: "iothreadids")?.elements(named: "iothread").first { $0[attribute: "id"] == String(id) }
        return (thread?[attribute: "thread_pool_min"].flatMap { Int32($0) }, thread?[attribute: "thread_pool_max"].flatMap { Int32($0) })
    }

    /// Sets I/O thread `id`'s pool sizes (-1: QEMU's default, the attribute goes); the list of
    /// ids is written so that the sizes have an `<iothread>` to sit on.
    static func setPool(_ document: inout XMLElement, id: Int, minimum: Int32?, maximum: Int32?) {
        setThreads(&document, ids(document), listed: true)
        let given: [(String, Int32?)] = [("thread_pool_min", minimum), ("thread_pool_max", maximum)]
        guard let index = document.children.firstIndex(where: { if case .element(let e) = $0, e.name == "iothreadids", e.namespace == nil { true } else { false } }),
            case .element(var list) = document.children[index]
        else { return }
        list.updateElements { thread in
            guard thread.name == "iothread", thread[attribute: "id"] == String(id) else { return }
            for (name, value) in given {
                guard let value else { continue }
                thread[attribute: name] = value < 0 ? nil : String(value)
            }
            let order = ["id", "thread_pool_min", "thread_pool_max"]
            thread.attributes.sort { (order.firstIndex(of: $0.name) ?? order.count) < (order.firstIndex(of: $1.name) ?? order.count) }
        }
        document.children[index] = .element(list)
    }

    /// The top-level elements libvirt writes before `<iothreads>`.
    private static let elementsBefore: Set<String> = [
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory", "currentMemory", "blkiotune", "memtune",
        "memoryBacking", "vcpu", "vcpus",
    ]

    /// Replaces `<iothreads>` (and `<iothreadids>`) with `ids`, after `<vcpu>`/`<vcpus>` (and what
    /// libvirt writes before them); with no ids, neither element stays.
    private static func setThreads(_ document: inout XMLElement, _ ids: [Int], listed: Bool) {
        // The <iothread> elements kept keep their attributes (their pool sizes).
        var existing: [String: XMLElement] = [:]
        for thread in document.element(named: "iothreadids")?.elements(named: "iothread") ?? [] {
            if let id = thread[attribute: "id"] { existing[id] = thread }
        }
        let listed = listed || ids.contains { existing[String($0)].map { $0.attributes.count > 1 } ?? false }
        document.children.removeAll { node in
            if case .element(let e) = node, e.namespace == nil, e.name == "iothreads" || e.name == "iothreadids" { true } else { false }
        }
        guard !ids.isEmpty else { return }
        var added: [XMLNode] = [.element(XMLElement(name: "iothreads", children: [.text(String(ids.count))]))]
        if listed {
            let threads = ids.map { XMLNode.element(existing[String($0)] ?? XMLElement(name: "iothread", attributes: [XMLAttribute(name: "id", value: String($0))])) }
            added.append(.element(XMLElement(name: "iothreadids", children: threads)))
        }
        let anchor = document.children.lastIndex { node in
            if case .element(let e) = node, e.namespace == nil, elementsBefore.contains(e.name) { true } else { false }
        }
        document.children.insert(contentsOf: added, at: anchor.map { $0 + 1 } ?? document.children.count)
    }
}

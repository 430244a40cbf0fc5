import CorralProtocol
import DomainXML
import XDR
import XMLTree

/// `virsh desc` and `virsh metadata`: a domain's `<title>`, `<description>` and the elements
/// applications keep under `<metadata>` in namespaces of their own, live and in the definition.
enum MetadataProcedures {
    /// `virDomainMetadataType`.
    enum Kind: Int32 {
        case description = 0, title = 1, element = 2
    }

    static let live = ModificationImpact.liveFlag, config = ModificationImpact.configFlag

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, driver: DomainDriver, events: EventHub, options: DomainXMLOptions) {
        let jobs = driver.jobs
        table.register(Remote.DomainGetMetadata.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config, function: "virDomainObjGetMetadata")
            let kind = try checkedKind(arguments.type, uri: arguments.uri, key: nil, metadata: nil, function: "virDomainGetMetadata")
            let record = try registry.record(for: arguments.dom)
            let wantsLive = arguments.flags & live != 0 || (arguments.flags & config == 0 && record.isActive)
            if arguments.flags & live != 0, !record.isActive {
                throw RemoteError(code: .operationInvalid, domain: .domain, detail: "domain is not running")
            }
            guard let document = try? XMLTreeParser.parse(wantsLive ? record.liveXML ?? record.xml : record.xml),
                let value = read(kind, uri: arguments.uri, from: document)
            else {
                throw RemoteError(code: .noDomainMetadata, domain: .domain, detail: "Requested metadata element is not present")
            }
            return .init(metadata: value)
        }
        table.registerAsync(Remote.DomainSetMetadata.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config, function: "virDomainObjSetMetadata")
            let kind = try checkedKind(arguments.type, uri: arguments.uri, key: arguments.key, metadata: arguments.metadata, function: "virDomainSetMetadata")
            let element: XMLElement? = if kind == .element, let text = arguments.metadata {
                try namespaced(text, uri: arguments.uri ?? "", prefix: arguments.key ?? "")
            } else {
                nil
            }
            let change = { @Sendable (document: inout XMLElement) in write(kind, arguments.metadata, element: element, uri: arguments.uri, into: &document) }
            let name = try registry.record(for: arguments.dom).name
            try await jobs.run(name, "remoteDispatchDomainSetMetadata") { () async throws(RemoteError) in
                let record = try registry.record(for: arguments.dom)
                let impact = try ModificationImpact(flags: arguments.flags, record: record, domain: .domain)
                if impact.live {
                    registry.updateGuest(record.uuid) { guest in guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id, change) }
                    await driver.liveXMLChanged(record.uuid)
                }
                if impact.config { try await DomainDocumentEdits.redefine(record, registry: registry, options: options, change) }
                events.metadataChanged(record.handle, type: kind.rawValue, uri: kind == .element ? arguments.uri : nil)
            }
            return XDRVoid()
        }
    }

    /// libvirt's argument rules: titles have no newline; titles and descriptions take no URI
    /// or key; elements need a URI, and a key when set.
    static func checkedKind(_ type: Int32, uri: String?, key: String?, metadata: String?, function: String) throws(RemoteError) -> Kind {
        guard let kind = Kind(rawValue: type) else {
            throw RemoteError(code: .invalidArgument, domain: .domain, detail: "unknown metadata type '\(type)'")
        }
        switch kind {
        case .title, .description:
            if kind == .title, metadata?.contains("\n") == true {
                throw RemoteError.invalidArgument("metadata title can't contain newlines", domain: .domain)
            }
            if uri != nil { throw RemoteError.invalidArgument("uri in \(function) must be NULL", domain: .domain) }
            if key != nil { throw RemoteError.invalidArgument("key in \(function) must be NULL", domain: .domain) }
        case .element:
            if uri == nil { throw RemoteError.invalidArgument("uri in \(function) must not be NULL", domain: .domain) }
            if metadata != nil, key == nil { throw RemoteError.invalidArgument("key in \(function) must not be NULL", domain: .domain) }
        }
        return kind
    }

    /// The client's element, in namespace `uri` with prefix `prefix` (libvirt's
    /// `virXMLInjectNamespace`): the root and every element without a namespace of its own.
    static func namespaced(_ text: String, uri: String, prefix: String) throws(RemoteError) -> XMLElement {
        guard let first = prefix.unicodeScalars.first, first.properties.isAlphabetic || first == "_",
            prefix.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" || $0 == "." })
        else {
            throw RemoteError(code: .invalidArgument, domain: .xml, detail: "failed to validate prefix for a new XML namespace")
        }
        var element: XMLElement
        do throws(XMLParseError) {
            element = try XMLTreeParser.parse(text)
        } catch {
            throw RemoteError(code: .xmlDetail, domain: .xml, detail: "(metadata_xml):\(error)")
        }
        rewriteNamespace(&element, from: nil, to: uri, prefix: prefix)
        return element
    }

    /// The title, description, or the `<metadata>` child in `uri` without its namespace.
    static func read(_ kind: Kind, uri: String?, from document: XMLElement) -> String? {
        switch kind {
        case .title: return document.element(named: "title").map(\.text).flatMap { $0.isEmpty ? nil : $0 }
        case .description: return document.element(named: "description").map(\.text).flatMap { $0.isEmpty ? nil : $0 }
        case .element:
            guard let uri, var found = document.element(named: "metadata")?.elements.first(where: { $0.namespace == uri }) else { return nil }
            rewriteNamespace(&found, from: uri, to: nil, prefix: nil)
            return XMLTreeWriter().write(found)
        }
    }

    /// Moves `node` and its descendants that are in namespace `from` (`nil`: none) to namespace
    /// `to` with `prefix`.
    static func rewriteNamespace(_ node: inout XMLElement, from: String?, to: String?, prefix: String?) {
        if node.namespace == from {
            node.namespace = to
            node.prefix = prefix
        }
        node.updateElements { rewriteNamespace(&$0, from: from, to: to, prefix: prefix) }
    }

    /// Sets (or, with `nil` or empty text, removes) the title, the description, or the
    /// `<metadata>` child in `uri`.
    static func write(_ kind: Kind, _ text: String?, element: XMLElement?, uri: String?, into document: inout XMLElement) {
        func isChild(_ node: XMLNode, _ name: String) -> Bool {
            if case .element(let e) = node, e.name == name, e.namespace == nil { true } else { false }
        }
        func place(_ name: String, _ node: XMLElement?) {
            document.children.removeAll { isChild($0, name) }
            guard let node else { return }
            // libvirt's order: name, uuid, genid, title, description, metadata.
            let before = ["name", "uuid", "genid", "title", "description", "metadata"]
            let limit = before.firstIndex(of: name) ?? 0
            let anchor = document.children.lastIndex { child in before[..<limit].contains { isChild(child, $0) } }
            document.children.insert(.element(node), at: anchor.map { $0 + 1 } ?? 0)
        }
        switch kind {
        case .title, .description:
            let name = kind == .title ? "title" : "description"
            place(name, (text ?? "").isEmpty ? nil : XMLElement(name: name, children: [.text(text ?? "")]))
        case .element:
            var metadata = document.element(named: "metadata") ?? XMLElement(name: "metadata")
            metadata.children.removeAll { if case .element(let e) = $0, e.namespace == uri { true } else { false } }
            if let element { metadata.children.append(.element(element)) }
            place("metadata", metadata.elements.isEmpty ? nil : metadata)
        }
    }
}

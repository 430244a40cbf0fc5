public import XMLTree

extension DomainSnapshot {
    /// Reads a `<domainsnapshot>` document (libvirt's `virDomainSnapshotDefParse` rules).
    ///
    /// - Parameter now: the creation time a new snapshot gets (and its name when it has none).
    public static func parse(_ text: String, mode: ParseMode, now: Int64, limits: XMLParseLimits = XMLParseLimits()) throws(DomainXMLError) -> DomainSnapshot {
        let root: XMLElement
        do { root = try XMLTreeParser.parse(text, limits: limits) } catch { throw DomainXMLError(.malformed, line: error.line, error.message) }
        return try DomainSnapshot(root, mode: mode, now: now)
    }

    /// Reads a parsed `<domainsnapshot>` element.
    public init(_ root: XMLElement, mode: ParseMode, now: Int64) throws(DomainXMLError) {
        guard root.name == "domainsnapshot", root.namespace == nil else {
            throw DomainXMLError(.invalid, line: root.line, "unexpected root element <\(root.name)>, expecting <domainsnapshot>")
        }
        let givenName = Self.text(root, "name")
        let redefine = mode == .redefine
        var offline = false
        if case .create(let isOffline) = mode { offline = isOffline }
        if redefine {
            guard let givenName else { throw DomainXMLError(.invalid, line: root.line, "a redefined snapshot must have a name") }
            guard let time = Self.text(root, "creationTime").flatMap({ Int64($0) }) else {
                throw DomainXMLError(.invalid, line: root.line, "missing creationTime from existing snapshot")
            }
            guard let stateText = Self.text(root, "state") else { throw DomainXMLError(.invalid, line: root.line, "missing state from existing snapshot") }
            guard let state = State(rawValue: stateText), state != .nostate else {
                throw DomainXMLError(.unsupported, line: root.line, "Invalid state '\(stateText)' in domain snapshot XML")
            }
            self.init(name: givenName, creationTime: time)
            self.state = state
            parent = root.element(named: "parent").flatMap { Self.text($0, "name") }
            offline = state.isOffline
            domain = root.element(named: "domain")
            inactiveDomain = root.element(named: "inactiveDomain")
            if !offline { cookie = root.element(named: "cookie") }
        } else {
            self.init(name: givenName ?? String(now), creationTime: now)
        }
        description = Self.text(root, "description")

        if let memoryElement = root.element(named: "memory") {
            memoryFile = memoryElement[attribute: "file"]
            if let value = memoryElement[attribute: "snapshot"] {
                guard let location = Location(rawValue: value) else {
                    throw DomainXMLError(.invalid, line: memoryElement.line, "Invalid value for attribute 'snapshot' in element 'memory': '\(value)'.")
                }
                guard location != .manual else { throw DomainXMLError(.invalid, line: memoryElement.line, "'manual' memory snapshot mode not supported") }
                memory = location
            }
        }
        if memory == nil {
            if memoryFile != nil { memory = .external } else if redefine { memory = offline ? .no : .internal }
        }
        if let memoryFile, memory != .external {
            throw DomainXMLError(.invalid, line: root.line, "memory filename '\(memoryFile)' requires external snapshot")
        }
        if memoryFile == nil, memory == .external {
            throw DomainXMLError(.invalid, line: root.line, "external memory snapshots require a filename")
        }
        if offline, let memory, memory != .no {
            throw DomainXMLError(.invalid, line: root.line, "memory state cannot be saved with offline or disk-only snapshot")
        }
        if let memoryFile, !memoryFile.hasPrefix("/") {
            throw DomainXMLError(.invalid, line: root.line, "memory snapshot file path (\(memoryFile)) must be absolute")
        }
        disks = try root.element(named: "disks")?.elements.map { element throws(DomainXMLError) in try Self.disk(element) } ?? []
    }

    private static func disk(_ element: XMLElement) throws(DomainXMLError) -> Disk {
        guard let name = element[attribute: "name"] else { throw DomainXMLError(.invalid, line: element.line, "missing name from disk snapshot element") }
        var location: Location?
        if let value = element[attribute: "snapshot"] {
            guard let parsed = Location(rawValue: value) else {
                throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'snapshot' in element 'disk': '\(value)'.")
            }
            location = parsed
        }
        var sourceType = Disk.SourceType.file
        if let value = element[attribute: "type"] {
            guard let parsed = Disk.SourceType(rawValue: value) else {
                throw DomainXMLError(.invalid, line: element.line, "unsupported disk snapshot type '\(value)'")
            }
            sourceType = parsed
        }
        let source = element.element(named: "source")
        let path = sourceType == .block ? source?[attribute: "dev"] : source?[attribute: "file"]
        let format = element.element(named: "driver")?[attribute: "type"]
        if let format, !Self.imageFormats.contains(format) {
            throw DomainXMLError(.unsupported, line: element.line, "unknown disk snapshot driver '\(format)'")
        }
        if let path, !path.hasPrefix("/") {
            throw DomainXMLError(.invalid, line: element.line, "disk snapshot image path '\(path)' must be absolute")
        }
        if location == nil, path != nil || format != nil { location = .external }
        return Disk(name: name, location: location, sourceType: sourceType, path: path, format: format)
    }

    /// The image formats libvirt knows (`virStorageFileFormat`).
    static let imageFormats: Set<String> = [
        "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop", "cow", "qcow", "qcow2", "qed", "vmdk",
    ]

    /// The trimmed-of-nothing text of `root`'s child `name`; `nil` when absent or empty (XPath's
    /// `string()`, as libvirt reads these).
    private static func text(_ root: XMLElement, _ name: String) -> String? {
        guard let text = root.element(named: name)?.text, !text.isEmpty else { return nil }
        return text
    }

    // MARK: - Writing

    /// The `<domainsnapshot>` element in libvirt's order. Without `secure`, the domain's
    /// secrets (graphics passwords) are left out.
    public func element(secure: Bool) -> XMLElement {
        var children: [XMLNode] = [.element(Self.textElement("name", name))]
        if let description { children.append(.element(Self.textElement("description", description))) }
        if let state { children.append(.element(Self.textElement("state", state.rawValue))) }
        if let parent { children.append(.element(XMLElement(name: "parent", children: [.element(Self.textElement("name", parent))]))) }
        if let creationTime { children.append(.element(Self.textElement("creationTime", String(creationTime)))) }
        if let memory {
            var attributes = [XMLAttribute(name: "snapshot", value: memory.rawValue)]
            if let memoryFile { attributes.append(XMLAttribute(name: "file", value: memoryFile)) }
            children.append(.element(XMLElement(name: "memory", attributes: attributes)))
        }
        if !disks.isEmpty {
            children.append(.element(XMLElement(name: "disks", children: disks.map { .element(Self.element($0)) })))
        }
        for var document in [domain, inactiveDomain].compactMap({ $0 }) {
            if !secure { DomainSecrets.strip(&document) }
            children.append(.element(document))
        }
        if let cookie { children.append(.element(cookie)) }
        return XMLElement(name: "domainsnapshot", children: children)
    }

    /// The document text (`snapshot-dumpxml`).
    public func format(secure: Bool) -> String {
        XMLTreeWriter(preferredPrefixes: [qemuNamespaceURI: "qemu"]).write(element(secure: secure))
    }

    private static func element(_ disk: Disk) -> XMLElement {
        var attributes = [XMLAttribute(name: "name", value: disk.name)]
        if let location = disk.location { attributes.append(XMLAttribute(name: "snapshot", value: location.rawValue)) }
        var children: [XMLNode] = []
        if disk.path != nil || disk.format != nil {
            attributes.append(XMLAttribute(name: "type", value: disk.sourceType.rawValue))
            if let format = disk.format { children.append(.element(XMLElement(name: "driver", attributes: [XMLAttribute(name: "type", value: format)]))) }
            if let path = disk.path {
                children.append(.element(XMLElement(name: "source", attributes: [XMLAttribute(name: disk.sourceType == .block ? "dev" : "file", value: path)])))
            }
        }
        return XMLElement(name: "disk", attributes: attributes, children: children)
    }

    private static func textElement(_ name: String, _ text: String) -> XMLElement {
        XMLElement(name: name, children: [.text(text)])
    }
}

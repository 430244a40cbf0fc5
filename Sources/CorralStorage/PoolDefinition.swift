import XMLTree

/// A storage pool's definition (`<pool type=…>`), as libvirt's `virStoragePoolDef`.
public struct PoolDefinition: Sendable, Hashable {
    /// A `<host>` of a network pool's source.
    public struct SourceHost: Sendable, Hashable {
        /// The host name or address.
        public var name: String
        /// The port, when given.
        public var port: UInt16?
    }

    /// The pool type.
    public var type: PoolType
    /// The name.
    public var name: String
    /// The UUID, canonical (lowercase, dashed).
    public var uuid: String
    /// `<source><host>` elements (netfs).
    public var sourceHosts: [SourceHost] = []
    /// `<source><device path>` elements (fs, logical).
    public var sourceDevices: [String] = []
    /// `<source><dir path>` (netfs: the exported directory).
    public var sourceDirectory: String?
    /// `<source><name>` (logical: the volume group; defaults to the pool's name).
    public var sourceName: String?
    /// `<source><format type>`, one of ``PoolType/sourceFormats``.
    public var sourceFormat: String?
    /// `<target><path>`, cleaned (no doubled or trailing slashes).
    public var targetPath: String
    /// `<target><permissions>`.
    public var targetPermissions: StoragePermissions

    /// Reads and checks pool XML, filling in libvirt's defaults.
    ///
    /// - Parameter newUUID: makes a UUID when the XML has none.
    public static func parse(_ text: String, newUUID: () -> String) throws(StorageError) -> PoolDefinition {
        let root: XMLElement
        do {
            root = try XMLTreeParser.parse(text)
        } catch {
            throw StorageError(.xml, "\(error)")
        }
        return try read(root, newUUID: newUUID)
    }

    static func read(_ root: XMLElement, newUUID: () -> String) throws(StorageError) -> PoolDefinition {
        guard root.name == "pool" else {
            throw StorageError(.xml, "unexpected root element <\(root.name)>, expecting <pool>")
        }
        guard let typeName = root[attribute: "type"] else { throw StorageError(.xml, "storage pool missing type attribute") }
        guard let type = PoolType(rawValue: typeName) else {
            throw StorageError(.xml, "Invalid value for attribute 'type' in element 'pool': '\(typeName)'.")
        }
        guard let name = root.childText("name") else { throw StorageError(.xml, "missing pool source name element") }
        if let problem = StorageName.poolProblem(name) { throw StorageError(.xml, problem) }
        let uuid: String
        if let text = root.childText("uuid") {
            guard let canonical = StorageUUID.canonical(text) else { throw StorageError(.xml, "malformed uuid element") }
            uuid = canonical
        } else {
            uuid = newUUID()
        }
        var definition = PoolDefinition(type: type, name: name, uuid: uuid, targetPath: "", targetPermissions: StoragePermissions())
        if let source = root.element(named: "source") {
            try definition.readSource(source)
        }
        try definition.applySourceDefaults()
        let target = root.element(named: "target")
        if let path = target?.childText("path") {
            guard path.hasPrefix("/") else {
                throw StorageError(.xml, "storage pool target path '\(path)' must be absolute")
            }
            definition.targetPath = StoragePath.clean(path)
        } else if type == .logical, let volumeGroup = definition.sourceName {
            definition.targetPath = "/dev/" + volumeGroup
        } else if !type.isNetworkStorage {
            throw StorageError(.xml, "missing storage pool target path")
        }
        definition.targetPermissions = try StoragePermissions.read(target?.element(named: "permissions"))
        return definition
    }

    private mutating func readSource(_ source: XMLElement) throws(StorageError) {
        for host in source.elements(named: "host") {
            guard let hostName = host[attribute: "name"], !hostName.isEmpty else {
                throw StorageError(.xml, "missing storage pool host name")
            }
            var port: UInt16?
            if let text = host[attribute: "port"] {
                guard let value = UInt16(text), value > 0 else { throw StorageError(.xml, "Invalid port number: \(text)") }
                port = value
            }
            sourceHosts.append(SourceHost(name: hostName, port: port))
        }
        for device in source.elements(named: "device") {
            guard let path = device[attribute: "path"], !path.isEmpty else {
                throw StorageError(.xml, "missing storage pool source device path")
            }
            sourceDevices.append(path)
        }
        if let directory = source.element(named: "dir") {
            guard let path = directory[attribute: "path"], !path.isEmpty else {
                throw StorageError(.xml, "missing storage pool source directory path")
            }
            sourceDirectory = StoragePath.clean(path)
        }
        sourceName = source.childText("name")
        if let format = source.element(named: "format") {
            let value = format[attribute: "type"] ?? ""
            guard let allowed = type.sourceFormats, allowed.contains(value) else {
                throw StorageError(.xml, "unknown pool format type \(value)")
            }
            sourceFormat = value
        }
    }

    /// libvirt's per-type rules: what a source must have, and its defaults.
    private mutating func applySourceDefaults() throws(StorageError) {
        switch type {
        case .fs:
            guard !sourceDevices.isEmpty else { throw StorageError(.xml, "missing storage pool source device name") }
            if sourceFormat == nil { sourceFormat = type.defaultSourceFormat }
        case .netfs:
            guard !sourceHosts.isEmpty else { throw StorageError(.xml, "missing storage pool source host name") }
            guard sourceDirectory != nil else { throw StorageError(.xml, "missing storage pool source path") }
            if sourceFormat == nil { sourceFormat = type.defaultSourceFormat }
        case .logical:
            if sourceName == nil { sourceName = name }
            if sourceFormat == nil { sourceFormat = type.defaultSourceFormat }
        default:
            break
        }
    }

    /// Whether this pool and `other` would manage the same storage (libvirt's "Storage source
    /// conflict with pool").
    public func sharesSource(with other: PoolDefinition) -> Bool {
        guard type == other.type else { return false }
        switch type {
        case .dir: return targetPath == other.targetPath
        case .fs: return sourceDevices.first == other.sourceDevices.first || targetPath == other.targetPath
        case .netfs:
            return (sourceHosts.first?.name == other.sourceHosts.first?.name && sourceDirectory == other.sourceDirectory)
                || targetPath == other.targetPath
        case .logical: return sourceName == other.sourceName
        default: return false
        }
    }
}

/// Pool and volume UUIDs as libvirt writes them.
public enum StorageUUID {
    /// The canonical form (lowercase, dashed) of a UUID written with or without dashes.
    public static func canonical(_ text: String) -> String? {
        let hex = Array(text.lowercased().filter { $0 != "-" })
        guard hex.count == 32, hex.allSatisfy(\.isHexDigit) else { return nil }
        return String(hex[0..<8]) + "-" + String(hex[8..<12]) + "-" + String(hex[12..<16]) + "-" + String(hex[16..<20]) + "-"
            + String(hex[20..<32])
    }
}

/// Path clean-up as libvirt's `virFileSanitizePath`.
public enum StoragePath {
    /// `path` with doubled slashes collapsed and no trailing slash (except `/` itself).
    public static func clean(_ path: String) -> String {
        var out = ""
        var previousSlash = false
        for character in path {
            if character == "/" {
                if previousSlash { continue }
                previousSlash = true
            } else {
                previousSlash = false
            }
            out.append(character)
        }
        while out.count > 1 && out.hasSuffix("/") { out.removeLast() }
        return out
    }
}

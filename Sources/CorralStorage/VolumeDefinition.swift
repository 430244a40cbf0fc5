import XMLTree

/// What a client asks for when it creates a volume (`<volume>` given to `vol-create`), as
/// libvirt's `virStorageVolDefParseXML` reads it.
public struct VolumeDefinition: Sendable, Hashable {
    /// The name: the file's name in the pool's directory, or the logical volume's name.
    public var name: String
    /// The requested type (`<volume type=…>`), when given.
    public var type: VolumeType?
    /// Bytes; `nil` only when a backing store gives the size.
    public var capacity: UInt64?
    /// Bytes to allocate now; `nil` means all of the capacity (libvirt's default).
    public var allocation: UInt64?
    /// The image format; `nil` means the pool's default (raw).
    public var format: VolumeFormat?
    /// `<target><permissions>`.
    public var permissions: StoragePermissions
    /// `<target><compat>` for qcow2 (`0.10` or `1.1`).
    public var compat: String?
    /// `<target><features><lazy_refcounts/>` for qcow2.
    public var lazyRefcounts: Bool
    /// `<backingStore><path>`.
    public var backingPath: String?
    /// `<backingStore><format type>`.
    public var backingFormat: VolumeFormat?

    /// Creates a definition.
    public init(
        name: String, type: VolumeType? = nil, capacity: UInt64?, allocation: UInt64? = nil, format: VolumeFormat? = nil,
        permissions: StoragePermissions = StoragePermissions(), compat: String? = nil, lazyRefcounts: Bool = false,
        backingPath: String? = nil, backingFormat: VolumeFormat? = nil
    ) {
        self.name = name
        self.type = type
        self.capacity = capacity
        self.allocation = allocation
        self.format = format
        self.permissions = permissions
        self.compat = compat
        self.lazyRefcounts = lazyRefcounts
        self.backingPath = backingPath
        self.backingFormat = backingFormat
    }

    /// Reads volume XML.
    public static func parse(_ text: String) throws(StorageError) -> VolumeDefinition {
        let root: XMLElement
        do {
            root = try XMLTreeParser.parse(text)
        } catch {
            throw StorageError(.xml, "\(error)")
        }
        guard root.name == "volume" else {
            throw StorageError(.xml, "unexpected root element <\(root.name)>, expecting <volume>")
        }
        var type: VolumeType?
        if let typeName = root[attribute: "type"] {
            guard let value = VolumeType(rawValue: typeName) else { throw StorageError(.xml, "unknown volume type '\(typeName)'") }
            type = value
        }
        guard let name = root.childText("name") else { throw StorageError(.xml, "missing volume name element") }
        let target = root.element(named: "target")
        let backing = root.element(named: "backingStore")
        let backingPath = backing?.childText("path")
        // An empty element counts as absent, as in libvirt (its XPath string is empty).
        var capacity: UInt64?
        if let element = root.element(named: "capacity"), !element.text.trimmingCharacters(in: " \t\n\r").isEmpty {
            capacity = try ScaledSize.bytes(element.text, unit: element[attribute: "unit"], element: "capacity")
        } else if backingPath == nil {
            throw StorageError(.xml, "missing capacity element")
        }
        var allocation: UInt64?
        if let element = root.element(named: "allocation"), !element.text.trimmingCharacters(in: " \t\n\r").isEmpty {
            allocation = try ScaledSize.bytes(element.text, unit: element[attribute: "unit"], element: "allocation")
        }
        if root.element(named: "encryption") != nil || target?.element(named: "encryption") != nil {
            throw StorageError(.configUnsupported, "encrypted volumes are not supported by Corral")
        }
        var definition = VolumeDefinition(
            name: name, type: type, capacity: capacity, allocation: allocation,
            permissions: try StoragePermissions.read(target?.element(named: "permissions")), backingPath: backingPath)
        definition.format = try Self.format(target?.element(named: "format"))
        definition.backingFormat = try Self.format(backing?.element(named: "format"))
        if let compat = target?.childText("compat") {
            guard compat == "0.10" || compat == "1.1" else { throw StorageError(.xml, "forbidden characters in 'compat' attribute") }
            definition.compat = compat
        }
        definition.lazyRefcounts = target?.element(named: "features")?.element(named: "lazy_refcounts") != nil
        return definition
    }

    private static func format(_ element: XMLElement?) throws(StorageError) -> VolumeFormat? {
        guard let element else { return nil }
        let name = element[attribute: "type"] ?? ""
        guard let format = VolumeFormat(rawValue: name) else {
            throw StorageError(.configUnsupported, "unknown volume format type \(name)")
        }
        return format
    }
}

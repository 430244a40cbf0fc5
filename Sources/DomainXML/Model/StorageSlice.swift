import XMLTree

extension DomainDefinition.Disk {
    /// `<source><slices><slice type='storage' offset size/></slices>`: the part of a file or
    /// device the image occupies (libvirt's `virStorageSourceSlice`), in bytes. QEMU reads it
    /// through a `raw` node with `offset` and `size`: the image's own format node when the image
    /// is raw, a node of its own (`libvirt-N-slice-sto`) under any other format.
    public struct StorageSlice: Hashable, Sendable {
        public var offset: UInt64
        public var size: UInt64

        public init(offset: UInt64, size: UInt64) {
            self.offset = offset
            self.size = size
        }

        /// The one slice type libvirt 9.0 knows.
        static let storageType = "storage"

        static let schema = ElementSchema("slices", children: [ElementSchema("slice", attributes: ["type", "offset", "size"])])

        /// The storage slice of `source`, read as libvirt reads it
        /// (`virDomainStorageSourceParseSlices`): the first `<slice type='storage'>`, with both
        /// numbers, in libvirt's messages; slices of other types are not read.
        static func storageSlice(of source: XMLElement?) throws(DomainXMLError) -> StorageSlice? {
            guard let slice = source?.element(named: "slices")?.elements(named: "slice").first(where: { $0[attribute: "type"] == storageType }) else {
                return nil
            }
            guard let offsetText = slice[attribute: "offset"], !offsetText.isEmpty, let sizeText = slice[attribute: "size"], !sizeText.isEmpty else {
                throw DomainXMLError(.invalid, line: slice.line, "missing offset or size attribute of slice")
            }
            guard let offset = AttributeValues.libvirtUInt64(offsetText) else {
                throw DomainXMLError(.invalid, line: slice.line, "malformed value '\(offsetText)' of 'offset' attribute of slice")
            }
            guard let size = AttributeValues.libvirtUInt64(sizeText) else {
                throw DomainXMLError(.invalid, line: slice.line, "malformed value '\(sizeText)' of 'size' attribute of slice")
            }
            return StorageSlice(offset: offset, size: size)
        }

        /// Whether QEMU needs a `raw` node of its own for the slice of an image in `format`
        /// (libvirt's `qemuBlockStorageSourceNeedsStorageSliceLayer`): unless the image is raw
        /// and not LUKS-encrypted, when its format node takes the slice itself.
        public static func needsOwnNode(format: String?, luksEncrypted: Bool) -> Bool {
            (format ?? "raw") != "raw" || luksEncrypted
        }
    }
}

extension DomainNormalizer {
    /// A source's `<slices>` as libvirt writes them back (`virDomainDiskSourceFormatSlices`):
    /// the storage slice alone, its numbers in decimal, and no `<slices>` without one. Slices
    /// whose numbers do not read stay, for the model's error.
    static func normalizeSlices(_ source: inout XMLElement) {
        guard let position = source.children.firstIndex(where: { if case .element(let child) = $0 { child.name == "slices" && child.namespace == nil } else { false } }),
            case .element(var slices) = source.children[position]
        else { return }
        guard var slice = slices.elements(named: "slice").first(where: { $0[attribute: "type"] == DomainDefinition.Disk.StorageSlice.storageType }) else {
            removeChild(at: position, of: &source)
            return
        }
        if let offset = slice[attribute: "offset"].flatMap(AttributeValues.libvirtUInt64), let size = slice[attribute: "size"].flatMap(AttributeValues.libvirtUInt64) {
            slice.attributes = [XMLAttribute(name: "type", value: "storage"), XMLAttribute(name: "offset", value: String(offset)), XMLAttribute(name: "size", value: String(size))]
        }
        slices.children = [.element(slice)]
        source.children[position] = .element(slices)
    }
}

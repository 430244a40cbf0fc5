import XMLTree

extension DomainDefinition.Disk {
    /// `<metadata_cache><max_size unit>`: the bytes of a qcow2 image's metadata (its L2 and
    /// refcount tables) QEMU keeps in memory, its format node's `cache-size`. A disk gives it in
    /// `<driver>`, a backing layer in `<format>`.
    enum MetadataCache {
        static let schema = ElementSchema("metadata_cache", children: [.text("max_size", attributes: ["unit"])])

        /// The cache size in `parent`'s `<metadata_cache>`, read as libvirt reads it
        /// (`virParseScaledValue` of `path`, bytes by default): `nil` when absent or zero.
        static func maximumBytes(in parent: XMLElement?, path: String) throws(DomainXMLError) -> UInt64? {
            guard let size = parent?.element(named: "metadata_cache")?.element(named: "max_size"), !size.text.isEmpty else { return nil }
            guard AttributeValues.libvirtUInt64(size.text) != nil else {
                throw DomainXMLError(.invalid, line: size.line, "Invalid value '\(size.text)' for element or attribute '\(path)'")
            }
            let bytes = try DomainNormalizer.scaledBytes(size, defaultUnit: "bytes")
            return bytes == 0 ? nil : bytes
        }
    }
}

extension DomainNormalizer {
    /// A `<metadata_cache>` in `parent` (a disk's `<driver>`, a layer's `<format>`) as libvirt
    /// writes it back: its size in bytes, and no element when it has none. A size that does not
    /// read stays, for the model's error.
    static func normalizeMetadataCache(_ parent: inout XMLElement) {
        guard let position = parent.children.firstIndex(where: { if case .element(let child) = $0 { child.name == "metadata_cache" && child.namespace == nil } else { false } })
        else { return }
        guard case .element(let cache) = parent.children[position], let size = cache.element(named: "max_size"), !size.text.isEmpty else {
            removeChild(at: position, of: &parent)
            return
        }
        guard AttributeValues.libvirtUInt64(size.text) != nil, let bytes = try? scaledBytes(size, defaultUnit: "bytes") else { return }
        if bytes == 0 {
            removeChild(at: position, of: &parent)
            return
        }
        parent.children[position] = .element(element("metadata_cache", [], children: [element("max_size", [("unit", "bytes")], text: String(bytes))]))
    }
}

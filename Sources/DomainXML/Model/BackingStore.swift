import XMLTree

extension DomainDefinition.Disk {
    /// One image of a backing chain the XML describes (`<backingStore type>`), below the disk's
    /// own image: QEMU opens exactly these, read-only, instead of following the image headers.
    /// A chain that stops with an empty `<backingStore/>` ends there (``endsChain``); one that
    /// stops without it goes on as the last image's header says.
    public struct BackingStore: Hashable, Sendable {
        /// libvirt's storage source types (`virStorageType`, without `none`).
        public enum SourceType: String, ModelledValue {
            case file, block, dir, network, volume, nvme, vhostuser
        }

        public var type: SourceType
        /// The image format (`<format type>`), one of libvirt's (`virStorageFileFormat`).
        public var format: String
        /// `<source file>` or `<source dev>`; `nil` when the source names none.
        public var path: String?
        /// A network layer's source (`<backingStore type='network'>`: protocol, name, hosts), read
        /// as a network disk's.
        public var network: DomainDefinition.Disk.NetworkSource?
        /// `<source><slices>`: the part of the file or device the layer occupies.
        public var slice: DomainDefinition.Disk.StorageSlice?
        /// The security models the source's `<seclabel>`s name.
        public var securityLabelModels: [String] = []
        /// `<source><encryption>`: the layer's LUKS encryption (its passphrase a volume secret).
        public var encryption: DomainDefinition.Disk.Encryption?
        /// `<format><metadata_cache><max_size>`: the bytes of qcow2 metadata QEMU caches.
        public var metadataCacheBytes: UInt64?
        /// The layer's block node number (`index`), kept only in live documents.
        public var index: UInt32?
        /// Found by the daemon in the image headers at start, not written in the XML: numbered
        /// after every layer the XML describes (libvirt's order), and listed in the live XML.
        public var detected = false

        public init(type: SourceType, format: String, path: String?, index: UInt32? = nil) {
            self.type = type
            self.format = format
            self.path = path
            self.index = index
        }

        /// What Corral models of a `<backingStore>`; its own `<backingStore>` child is the next
        /// layer (``DomainSchema`` reads nested layers with this schema).
        static let schema = ElementSchema("backingStore", attributes: ["type", "index"], children: [
            ElementSchema("format", attributes: ["type"], children: [MetadataCache.schema]),
            ElementSchema("source", attributes: ["file", "dev"] + NetworkSource.schema.attributes, children: NetworkSource.schema.children + [StorageSlice.schema, DeviceSecurityLabel.schema, Encryption.schema]),
            ElementSchema("backingStore"),
        ])

        /// The image formats libvirt knows (`virStorageFileFormat`, without `none`).
        static let formats: Set<String> = [
            "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop", "cow", "qcow", "qcow2", "qed", "vmdk",
        ]

        /// Reads the chain under `disk`, top down, with libvirt's checks in libvirt's order
        /// (`virDomainDiskBackingStoreParse`); `endsChain` tells whether it ends with an empty
        /// `<backingStore/>` (a layer without `type` is one, whatever it holds).
        static func chain(of disk: XMLElement) throws(DomainXMLError) -> (layers: [BackingStore], endsChain: Bool) {
            var layers: [BackingStore] = []
            var next = disk.element(named: "backingStore")
            while let layer = next {
                guard let typeText = layer[attribute: "type"] else { return (layers, true) }
                guard let format = layer.element(named: "format")?[attribute: "type"], !format.isEmpty else {
                    throw DomainXMLError(.invalid, line: layer.line, "missing disk backing store format")
                }
                guard let source = layer.element(named: "source") else {
                    throw DomainXMLError(.invalid, line: layer.line, "missing disk backing store source")
                }
                guard let type = SourceType(rawValue: typeText) else {
                    throw DomainXMLError(.invalid, line: layer.line, "unknown storage source type '\(typeText)'")
                }
                guard formats.contains(format) else {
                    throw DomainXMLError(.invalid, line: layer.line, "unknown storage source format '\(format)'")
                }
                let path = type == .block ? source[attribute: "dev"] : type == .file ? source[attribute: "file"] : type == .dir ? source[attribute: "dir"] : nil
                var store = BackingStore(type: type, format: format, path: path?.isEmpty == true ? nil : path, index: layer[attribute: "index"].flatMap { UInt32($0) })
                if type == .network { store.network = try NetworkSource(source) }
                store.slice = try StorageSlice.storageSlice(of: source)
                store.securityLabelModels = DeviceSecurityLabel.models(of: source)
                store.encryption = try source.element(named: "encryption").map { element throws(DomainXMLError) in try Encryption(element) }
                store.metadataCacheBytes = try MetadataCache.maximumBytes(in: layer.element(named: "format"), path: "./format/metadata_cache/max_size")
                layers.append(store)
                next = layer.element(named: "backingStore")
            }
            return (layers, false)
        }
    }
}

import XMLTree

extension DomainDefinition {
    /// `<filesystem>`: a host directory the guest mounts (9p, or virtiofs).
    public struct Filesystem: Hashable, Sendable, ModelledElement {
        /// `<filesystem type>`; QEMU guests take `mount` only.
        public enum Kind: String, ModelledValue {
            case mount, block, file, template, ram, bind, volume
        }

        /// `<filesystem accessmode>`: how guest users map to host users (9p's security model).
        public enum AccessMode: String, ModelledValue {
            case passthrough, mapped, squash

            /// QEMU's `security_model`.
            public var securityModel: String {
                switch self {
                case .passthrough: "passthrough"
                case .mapped: "mapped"
                case .squash: "none"
                }
            }
        }

        /// `<driver type>`.
        public enum DriverType: String, ModelledValue {
            case path, handle, loop, nbd, ploop, virtiofs
        }

        /// `<driver wrpolicy>`.
        public enum WritePolicy: String, ModelledValue {
            case immediate
        }

        /// `<filesystem multidevs>`: what 9p does with several host devices under one export.
        public enum MultipleDevices: String, ModelledValue {
            case `default`, remap, forbid, warn
        }

        /// `<binary><cache mode>`: how virtiofsd caches file data and metadata.
        public enum CacheMode: String, ModelledValue {
            case none, always
        }

        /// `<binary><sandbox mode>`: how virtiofsd confines itself to the shared directory.
        public enum SandboxMode: String, ModelledValue {
            case namespace, chroot
        }

        /// `<binary>`: how the daemon runs virtiofsd for a virtiofs share it starts.
        public struct VirtioFSDaemon: Hashable, Sendable {
            /// `<binary path>`: the virtiofsd to run; absent, the host's vhost-user descriptor picks it.
            public var path: String?
            /// `<binary xattr>`: extended attributes on or off (absent: virtiofsd's default).
            public var xattr: Bool?
            public var cache: CacheMode?
            public var sandbox: SandboxMode?
            /// `<lock posix>` and `<lock flock>`: remote POSIX locks and flock() (absent: the default).
            public var posixLock: Bool?
            public var flock: Bool?
            /// `<thread_pool size>`: virtiofsd's worker threads (absent or negative: its default).
            public var threadPoolSize: Int32?

            static let schema = ElementSchema("binary", attributes: ["path", "xattr"], children: [
                ElementSchema("cache", attributes: ["mode"]), ElementSchema("sandbox", attributes: ["mode"]),
                ElementSchema("lock", attributes: ["posix", "flock"]), ElementSchema("thread_pool", attributes: ["size"]),
            ])

            public init() {}

            init(_ element: XMLElement?) throws(DomainXMLError) {
                guard let element else { return }
                path = element[attribute: "path"]
                xattr = try Interface.Driver.onOff("xattr", of: element)
                cache = try CacheMode.optionalAttribute("mode", of: element.element(named: "cache"))
                sandbox = try SandboxMode.optionalAttribute("mode", of: element.element(named: "sandbox"))
                if let lock = element.element(named: "lock") {
                    posixLock = try Interface.Driver.onOff("posix", of: lock)
                    flock = try Interface.Driver.onOff("flock", of: lock)
                }
                if let pool = element.element(named: "thread_pool"), let text = pool[attribute: "size"] {
                    guard let size = Int32(text) else {
                        throw DomainXMLError(.invalid, line: pool.line, "cannot parse thread pool size '\(text)' for virtiofs")
                    }
                    threadPoolSize = size < 0 ? nil : size
                }
            }
        }

        public var type: Kind
        /// `<filesystem model>`: a 9p share's virtio device variant (virtiofs takes none).
        public var model: VirtioModel?
        /// `<filesystem accessmode>`; `nil` for a virtiofs share served by someone else's
        /// virtiofsd (`<source socket>`), which has none.
        public var accessMode: AccessMode?
        public var driver: DriverType?
        public var writePolicy: WritePolicy?
        public var multipleDevices: MultipleDevices?
        /// `fmode` and `dmode`: the permissions a mapped 9p share gives the files and
        /// directories the guest makes (octal, at most 0777).
        public var fileMode: UInt32?
        public var directoryMode: UInt32?
        /// `<source dir>`: the host directory ("" when only a socket is given).
        public var source: String
        /// `<source socket>`: the vhost-user socket of a virtiofsd started by someone else.
        public var sourceSocket: String?
        /// `<driver queue>`: the virtiofs request queue's size.
        public var queueSize: UInt64?
        /// `<binary>`, for a virtiofs share whose virtiofsd the daemon starts.
        public var virtioFSDaemon = VirtioFSDaemon()
        public var bootOrder: Int?
        /// `<target dir>`: the mount tag the guest mounts by.
        public var target: String
        public var readonly: Bool
        public var alias: String?
        public var pciAddress: PCIAddress?
        /// `<driver iommu ats packed page_per_vq>`.
        public var virtio = VirtioOptions()

        /// `<driver>`'s attributes in libvirt's order.
        public static let driverAttributes = ["type", "format", "wrpolicy", "queue"] + VirtioOptions.attributes

        static let schema = ElementSchema("filesystem", attributes: ["type", "accessmode", "multidevs", "fmode", "dmode", "model"], children: [
            ElementSchema("driver", attributes: ["type", "wrpolicy", "queue"] + VirtioOptions.attributes), VirtioFSDaemon.schema, ElementSchema("source", attributes: ["dir", "socket"]),
            ElementSchema("target", attributes: ["dir"]), .text("readonly"), .boot, .alias, .address,
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.attribute("type", of: element, default: .mount)
            model = try VirtioModel.optionalAttribute("model", of: element)
            let sourceElement = element.element(named: "source")
            sourceSocket = sourceElement?[attribute: "socket"]
            // libvirt's post-parse default, for every share but one on someone else's socket.
            accessMode = try AccessMode.optionalAttribute("accessmode", of: element) ?? (sourceSocket == nil ? .passthrough : nil)
            multipleDevices = try MultipleDevices.optionalAttribute("multidevs", of: element)
            fileMode = try Self.mode("fmode", of: element)
            directoryMode = try Self.mode("dmode", of: element)
            let driverElement = element.element(named: "driver")
            driver = try DriverType.optionalAttribute("type", of: driverElement)
            writePolicy = try WritePolicy.optionalAttribute("wrpolicy", of: driverElement)
            virtio = try VirtioOptions(driverElement)
            if driver == .virtiofs {
                if let text = driverElement?[attribute: "queue"] {
                    guard let size = UInt64(text) else { throw DomainXMLError(.invalid, line: element.line, "cannot parse queue size '\(text)' for virtiofs") }
                    queueSize = size == 0 ? nil : size
                }
                virtioFSDaemon = try VirtioFSDaemon(element.element(named: "binary"))
            }
            let source = sourceElement.flatMap { $0[attribute: "dir"] ?? $0[attribute: "dev"] ?? $0[attribute: "file"] ?? $0[attribute: "name"] }
            let target = element.element(named: "target")?[attribute: "dir"]
            guard let source = source ?? (sourceSocket != nil ? "" : nil) else {
                throw DomainXMLError(.invalid, line: element.line, "missing source information for device \(target ?? "")")
            }
            guard let target else { throw DomainXMLError(.invalid, line: element.line, "missing target information for device \(source)") }
            self.source = source
            self.target = target
            guard type == .mount else { throw DomainXMLError(.unsupported, line: element.line, "only supports mount filesystem type") }
            readonly = element.element(named: "readonly") != nil
            bootOrder = DeviceCommon.bootOrder(element)
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}

extension DomainDefinition.Filesystem {
    /// A mode as libvirt writes `fmode` and `dmode` (`%04o`): `0644`.
    public static func modeText(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// `fmode` or `dmode` as libvirt reads them: octal, at most 0777; zero is none.
    static func mode(_ name: String, of element: XMLElement) throws(DomainXMLError) -> UInt32? {
        guard let text = element[attribute: name] else { return nil }
        guard let mode = UInt32(text, radix: 8) else {
            throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(name)' in element 'filesystem': '\(text)'. Expected integer value")
        }
        guard mode <= 0o777 else { throw DomainXMLError(.invalid, line: element.line, "invalid \(name): '0\(String(mode, radix: 8))'") }
        return mode == 0 ? nil : mode
    }
}

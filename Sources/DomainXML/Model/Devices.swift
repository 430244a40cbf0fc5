import XMLTree

extension DomainDefinition {
    /// `<devices>`.
    public struct Devices: Hashable, Sendable, ModelledElement {
        public var emulator: String?
        public var disks: [Disk] = []
        public var controllers: [Controller] = []
        public var interfaces: [Interface] = []
        public var serials: [CharacterDevice] = []
        public var consoles: [CharacterDevice] = []
        public var channels: [CharacterDevice] = []
        public var inputs: [Input] = []
        public var graphics: [Graphics] = []
        public var videos: [Video] = []
        public var sounds: [Sound] = []
        public var memballoon: MemoryBalloon?
        public var rngs: [RandomNumberGenerator] = []
        public var watchdogs: [Watchdog] = []
        public var redirectedDevices: [RedirectedDevice] = []
        /// `<redirfilter>`: the rules every USB redirection port follows, in order.
        public var redirectionRules: [USBRedirectionRule] = []
        public var filesystems: [Filesystem] = []
        public var tpms: [TPM] = []
        public var panics: [Panic] = []
        public var parallels: [CharacterDevice] = []
        public var audios: [Audio] = []
        public var hubs: [Hub] = []
        public var sharedMemory: [SharedMemory] = []
        public var smartcards: [Smartcard] = []
        /// `<hostdev>`: devices of the host given to the guest.
        public var hostDevices: [HostDevice] = []
        /// `<memory>` devices: DIMMs, NVDIMMs, virtio-mem and virtio-pmem.
        public var memoryDevices: [MemoryDevice] = []
        /// `<vsock>` (a guest has at most one).
        public var vsock: Vsock?
        /// `<iommu>` (a guest has at most one).
        public var iommu: IOMMU?
        /// `<crypto>`: virtio-crypto devices.
        public var cryptos: [Crypto] = []
        /// `<pstore>` (a guest has at most one).
        public var pstore: Pstore?
        /// `<lease>`: kept, acquired by no lock manager (libvirt's default `nop` manager).
        public var leases: [Lease] = []

        static let schema = ElementSchema("devices", children: [
            .text("emulator"), Disk.schema, Controller.schema, Lease.schema, Interface.schema, CharacterDevice.serialSchema, CharacterDevice.consoleSchema,
            CharacterDevice.channelSchema, Input.schema, Graphics.schema, Video.schema, Sound.schema, MemoryBalloon.schema,
            RandomNumberGenerator.schema, Watchdog.schema, RedirectedDevice.schema, USBRedirectionRule.filterSchema, Filesystem.schema, TPM.schema, Panic.schema, CharacterDevice.parallelSchema,
            Audio.schema, Hub.schema, SharedMemory.schema, IOMMU.schema, Smartcard.schema, MemoryDevice.schema, HostDevice.schema, Vsock.schema, Crypto.schema, Pstore.schema,
        ])

        public init() {}

        /// Reads a normalised `<devices>`; elements of other namespaces are not devices.
        init(_ element: XMLElement) throws(DomainXMLError) {
            emulator = element.element(named: "emulator")?.text
            // By index: `elements` would copy every device into an array first.
            for position in element.children.indices {
                guard case .element(let device) = element.children[position], device.namespace == nil else { continue }
                switch device.name {
                case "disk": disks.append(try Disk(device))
                case "controller": controllers.append(try Controller(device))
                case "interface": interfaces.append(try Interface(device))
                case "serial": serials.append(try CharacterDevice(device))
                case "console": consoles.append(try CharacterDevice(device))
                case "channel": channels.append(try CharacterDevice(device))
                case "input": inputs.append(try Input(device))
                case "graphics": graphics.append(try Graphics(device))
                case "video": videos.append(try Video(device))
                case "sound": sounds.append(try Sound(device))
                case "memballoon": memballoon = try MemoryBalloon(device)
                case "rng": rngs.append(try RandomNumberGenerator(device))
                case "watchdog": watchdogs.append(try Watchdog(device))
                case "redirdev": redirectedDevices.append(try RedirectedDevice(device))
                case "redirfilter":
                    guard redirectionRules.isEmpty else { throw DomainXMLError(.invalid, line: device.line, "Only one set of redirect filter rules is supported") }
                    for rule in device.elements(named: "usbdev") { redirectionRules.append(try USBRedirectionRule(rule)) }
                case "smartcard": smartcards.append(try Smartcard(device))
                case "filesystem": filesystems.append(try Filesystem(device))
                case "tpm": tpms.append(try TPM(device))
                case "panic": panics.append(try Panic(device))
                case "parallel": parallels.append(try CharacterDevice(device))
                case "audio": audios.append(try Audio(device))
                case "hub": hubs.append(try Hub(device))
                case "lease": leases.append(try Lease(device))
                case "shmem": sharedMemory.append(try SharedMemory(device))
                case "memory": memoryDevices.append(try MemoryDevice(device))
                case "hostdev": hostDevices.append(try HostDevice(device))
                case "vsock":
                    guard vsock == nil else { throw DomainXMLError(.invalid, line: device.line, "only a single vsock device is supported") }
                    vsock = try Vsock(device)
                case "iommu":
                    guard iommu == nil else { throw DomainXMLError(.invalid, line: device.line, "only a single IOMMU device is supported") }
                    iommu = try IOMMU(device)
                case "crypto": cryptos.append(try Crypto(device))
                case "pstore":
                    guard pstore == nil else { throw DomainXMLError(.invalid, line: device.line, "only a single pstore device is supported") }
                    pstore = try Pstore(device)
                default: continue
                }
            }
            try checkAudioReferences(element)
            try checkOpenGLDisplays(element)
            // The QEMU driver's check (qemuValidateDomainSmartcardDef): one card, in slot 0 of
            // CCID controller 0.
            if smartcards.count > 1 || smartcards.contains(where: { $0.controller != 0 || $0.slot != 0 }) {
                throw DomainXMLError(.unsupported, line: element.line, "this QEMU binary lacks multiple smartcard support")
            }
        }

        /// Whether the SCSI controller of `index` is an LSI one (libvirt's default model).
        public func isLSIController(_ index: Int) -> Bool {
            controllers.first { $0.type == .scsi && $0.index == index }?.model == "lsilogic"
        }

        /// Whether `disk` sits on an LSI SCSI controller.
        public func isLSIController(of disk: Disk) -> Bool {
            disk.targetBus == .scsi && isLSIController(disk.scsiAddress.controller)
        }

        /// The QEMU driver's checks of OpenGL displays (qemuValidateDomainDeviceDefGraphics): an
        /// egl-headless display goes with VNC and SPICE servers only, and not with SPICE's own
        /// OpenGL.
        func checkOpenGLDisplays(_ element: XMLElement) throws(DomainXMLError) {
            guard graphics.contains(where: { $0.type == .eglHeadless }) else { return }
            if graphics.contains(where: { ![.eglHeadless, .vnc, .spice].contains($0.type) }) {
                throw DomainXMLError(.unsupported, line: element.line, "graphics type 'egl-headless' is only supported with one of: 'vnc', 'spice' graphics types")
            }
            if graphics.contains(where: { $0.type == .spice && $0.openGL == true }) {
                throw DomainXMLError(.unsupported, line: element.line, "multiple OpenGL displays are not supported by QEMU")
            }
        }

        /// Every audio id is used once, and every `<audio id>` of a device names a backend.
        func checkAudioReferences(_ element: XMLElement) throws(DomainXMLError) {
            var ids = Set<Int>()
            for audio in audios where !ids.insert(audio.id).inserted {
                throw DomainXMLError(.invalid, line: element.line, "Audio ID \(audio.id) is used multiple times")
            }
            // The QEMU driver's check (qemuValidateDomainDeviceDefAudio).
            if audios.contains(where: { $0.backend == .spice }) && !graphics.contains(where: { $0.type == .spice }) {
                throw DomainXMLError(.unsupported, line: element.line, "Spice audio is not supported without spice graphics")
            }
            for position in element.children.indices {
                guard case .element(let device) = element.children[position], device.namespace == nil,
                    device.name == "sound" || device.name == "graphics"
                else { continue }
                if let id = try Audio.reference(in: device), !ids.contains(id) {
                    throw DomainXMLError(.invalid, line: device.line, "no audio device for audio ID '\(id)'")
                }
            }
        }

        /// Every user alias (`ua-…`) and libvirt alias given in the XML, each device once: a
        /// serial console is its serial port, and shares its alias (as in libvirt's live XML).
        public var aliases: [String] {
            disks.compactMap(\.alias) + controllers.compactMap(\.alias) + interfaces.compactMap(\.alias) + serials.compactMap(\.alias)
                + consoles.filter { $0.targetType != nil && $0.targetType != "serial" }.compactMap(\.alias) + channels.compactMap(\.alias) + inputs.compactMap(\.alias) + graphics.compactMap(\.alias)
                + videos.compactMap(\.alias) + sounds.compactMap(\.alias) + [memballoon?.alias].compactMap { $0 } + rngs.compactMap(\.alias)
                + watchdogs.compactMap(\.alias) + redirectedDevices.compactMap(\.alias) + filesystems.compactMap(\.alias) + tpms.compactMap(\.alias) + parallels.compactMap(\.alias)
                + hubs.compactMap(\.alias) + sharedMemory.compactMap(\.alias) + [iommu?.alias].compactMap { $0 } + smartcards.compactMap(\.alias) + cryptos.compactMap(\.alias)
                + [pstore?.alias].compactMap { $0 }
        }
    }
}

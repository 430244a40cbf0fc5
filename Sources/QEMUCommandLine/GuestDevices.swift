public import DomainXML

/// The names a guest's devices get in QEMU — device ids (libvirt's aliases), block node names,
/// netdev and chardev ids — decided once, here, for the command line, the live XML and every
/// later QMP call (statistics, consoles, hotplug).
///
/// libvirt's naming: `virtio-disk0`, `sata0-0-1`, `ide0-0-1`, `scsi0-0-0-2` for disks with
/// `libvirt-N-storage`/`libvirt-N-format` nodes (numbered from the last disk to the first, a described backing chain's layers after their disk's image);
/// `net0` with `hostnet0`; `serial0` with `charserial0` (a serial console shares its serial's
/// alias); `channel0` with `charchannel0`. A user alias (`ua-…`) given in the XML replaces the
/// device id.
public struct GuestDevices: Hashable, Sendable {
    /// A disk as QEMU knows it.
    public struct Disk: Hashable, Sendable {
        /// `<target dev>` (`vda`).
        public var target: String
        /// The device id.
        public var alias: String
        /// The format node (`libvirt-N-format`), which statistics and resizes name.
        public var formatNode: String
        /// The storage node (`libvirt-N-storage`).
        public var storageNode: String
        /// N: libvirt's index of the disk's source (`<source index>`, `block.N.backingIndex`).
        public var nodeIndex: UInt32
        /// The image file or block device (after volumes are resolved); `nil` for an empty CD-ROM
        /// and for a network disk.
        public var source: String?
        /// Whether QEMU has block nodes for the disk: it has a file, a block device or a network
        /// source (an empty CD-ROM has none).
        public var hasMedium: Bool
        /// The image format (`<driver type>`); `nil`: raw.
        public var format: String?
        /// The QOM path of the device that holds the disk's block backend, which throttling and
        /// tray commands name: a virtio disk's is its `virtio-backend` child.
        public var qomName: String
        /// A `<transient/>` disk's overlay (`IMAGE.TRANSIENT-DOMAIN`), which the guest writes and
        /// the daemon deletes when the guest stops; the nodes above are the overlay's, and the
        /// image's (read-only) are ``baseStorageNode`` and ``baseFormatNode``.
        public var transientOverlay: String?

        /// The node numbers of the backing chain the XML describes, top down (one per
        /// ``DomainDefinition/Disk/backingChain`` layer): `libvirt-N-storage`/`libvirt-N-format`.
        public var backingNodeIndexes: [UInt32] = []
        /// The layers themselves (as ``backingNodeIndexes``, top down).
        public var backingLayers: [DomainDefinition.Disk.BackingStore] = []
        /// Whether the chain ends (``DomainDefinition/Disk/endsChain``): the live XML has
        /// `<backingStore/>` there.
        public var endsChain = false
        /// The layers found in the image headers at start (the last of ``backingLayers``): the
        /// live XML lists them.
        public var detectedLayers: [DomainDefinition.Disk.BackingStore] { backingLayers.filter(\.detected) }
        /// The block nodes of each backing layer, top down: storage then format.
        public var backingNodes: [String] { backingNodeIndexes.flatMap { [GuestDevices.storageNode($0), GuestDevices.formatNode($0)] } }

        /// The `copy-on-read` node above the format node of a disk with `<driver
        /// copy_on_read='on'>` (`libvirt-CoR-vda`), which the device reads through.
        public var copyOnReadNode: String? = nil
        /// The node reading the image's storage slice, when the image needs one of its own
        /// (``DomainDefinition/Disk/StorageSlice/needsOwnNode(format:luksEncrypted:)``).
        public var imageSliceNode: String? = nil
        /// The node the guest's device reads and writes through.
        public var deviceNode: String { copyOnReadNode ?? formatNode }

        /// Every block node of the disk, top down, each before the nodes it reads: the order in
        /// which they are deleted once the device is gone.
        public var blockNodesTopDown: [String] {
            var nodes = copyOnReadNode.map { [$0] } ?? []
            if transientOverlay != nil {
                nodes += [formatNode, storageNode, baseFormatNode] + (imageSliceNode.map { [$0] } ?? []) + [baseStorageNode]
            } else {
                nodes += [formatNode] + (imageSliceNode.map { [$0] } ?? []) + [storageNode]
            }
            for (number, layer) in zip(backingNodeIndexes, backingLayers) {
                let storage = GuestDevices.storageNode(number)
                nodes.append(GuestDevices.formatNode(number))
                if layer.slice != nil && DomainDefinition.Disk.StorageSlice.needsOwnNode(format: layer.format, luksEncrypted: false) {
                    nodes.append(GuestDevices.sliceNode(ofStorageNode: storage))
                }
                nodes.append(storage)
            }
            return nodes
        }

        /// A transient disk's image's storage node under its overlay (`libvirt-N-base-storage`).
        public var baseStorageNode: String { "libvirt-\(nodeIndex)-base-storage" }
        /// A transient disk's image's format node, the overlay's backing (`libvirt-N-base-format`).
        public var baseFormatNode: String { "libvirt-\(nodeIndex)-base-format" }
    }

    /// A network interface as QEMU knows it.
    public struct Interface: Hashable, Sendable {
        /// The NIC's device id (`net0`).
        public var alias: String
        /// Its host side (`hostnet0`).
        public var netdev: String
        public var type: DomainDefinition.Interface.Kind
        public var mac: String?
        /// The host side the daemon made for it (a tap on a bridge), if any.
        public var connection: CommandLineContext.InterfaceConnection?
    }

    /// Which list a character device comes from.
    public enum CharacterRole: String, Hashable, Sendable {
        case serial, console, channel
    }

    /// A serial port, console or channel as QEMU knows it.
    public struct CharacterDevice: Hashable, Sendable {
        public var role: CharacterRole
        /// Its position in its list (`<serial>` elements, `<console>` elements, `<channel>`s).
        public var index: Int
        /// The alias libvirt reports (`serial0`, `channel0`).
        public var alias: String
        /// The chardev's id (`charserial0`), which `query-chardev` reports.
        public var chardev: String
        public var type: DomainDefinition.CharacterDevice.Kind
        /// The socket of a unix chardev (given, or in the run directory), or a file's path.
        public var path: String?
        /// A virtio channel's `<target name>`.
        public var targetName: String?
    }

    public var disks: [Disk] = []
    public var interfaces: [Interface] = []
    public var characterDevices: [CharacterDevice] = []
    /// The virtio memory balloon's device id, when the guest has one.
    public var balloon: String?
    /// The aliases of the other devices, by element name in document order
    /// (``DeviceAliases/elementAliases(_:)``).
    public var elementAliases: [String: [String?]] = [:]

    /// The names of `domain`'s devices; `runDirectory` holds the sockets Corral chooses.
    public init(_ domain: DomainDefinition, runDirectory: String) {
        let numbers = Self.blockNodeNumbers(domain.devices.disks)
        for (index, disk) in domain.devices.disks.enumerated() {
            let node = numbers[index].top
            let overlay = disk.transientOverlayPath(domainName: domain.name)
            disks.append(Disk(
                target: disk.targetDevice, alias: disk.alias ?? Self.generatedAlias(of: disk, position: index, lsiController: domain.devices.isLSIController(of: disk)), formatNode: Self.formatNode(node),
                storageNode: Self.storageNode(node), nodeIndex: node, source: disk.source, hasMedium: disk.hasMedium, format: overlay == nil ? disk.format : "qcow2",
                qomName: disk.targetBus == .virtio ? "/machine/peripheral/\(disk.alias ?? Self.generatedAlias(of: disk, position: index))/virtio-backend"
                    : disk.alias ?? Self.generatedAlias(of: disk, position: index, lsiController: domain.devices.isLSIController(of: disk)),
                transientOverlay: overlay, backingNodeIndexes: numbers[index].backing, backingLayers: disk.backingChain, endsChain: disk.endsChain,
                copyOnReadNode: disk.copyOnRead == true && disk.hasMedium ? "libvirt-CoR-\(disk.targetDevice)" : nil,
                imageSliceNode: disk.slice != nil && DomainDefinition.Disk.StorageSlice.needsOwnNode(format: disk.format, luksEncrypted: disk.encryption?.format == .luks)
                    ? Self.sliceNode(ofStorageNode: overlay == nil ? Self.storageNode(node) : "libvirt-\(node)-base-storage") : nil))
        }
        for (index, interface) in domain.devices.interfaces.enumerated() {
            // libvirt's netdev is "host" + the NIC's alias (`hostnet0`, `hostua-lan`).
            let alias = interface.alias ?? "net\(index)"
            // A running guest's document names the tap the daemon made (`<target dev>`), and a
            // network interface's bridge and port.
            // (An ethernet interface's downscript comes from the document too.)
            let connection = interface.targetDevice.map { tap in
                var connection = CommandLineContext.InterfaceConnection(
                    tap: tap, bridge: interface.type == .network ? interface.networkBridge : interface.type == .bridge ? interface.source : nil,
                    network: interface.type == .network ? interface.source : nil, portID: interface.portID)
                if interface.type == .ethernet { connection.downscript = interface.downscript }
                return connection
            }
            interfaces.append(Interface(alias: alias, netdev: "host" + alias, type: interface.type, mac: interface.mac, connection: connection))
        }
        for (index, serial) in domain.devices.serials.enumerated() {
            characterDevices.append(CharacterDevice(
                role: .serial, index: index, alias: serial.alias ?? "serial\(index)", chardev: "charserial\(index)", type: serial.type,
                path: serial.type == .unix ? serial.path ?? runDirectory + "/serial\(index).sock" : serial.path))
        }
        for (index, console) in domain.devices.consoles.enumerated() {
            if console.targetType == "virtio" {
                // A virtio console is a device of its own (libvirt's `consoleN`, `charconsoleN`).
                characterDevices.append(CharacterDevice(
                    role: .console, index: index, alias: console.alias ?? "console\(index)", chardev: "charconsole\(index)", type: console.type,
                    path: console.type == .unix ? console.path ?? runDirectory + "/console\(index).sock" : console.path))
                continue
            }
            // A serial console is the serial port it names (port 0 unless told).
            guard console.targetType == nil || console.targetType == "serial" else { continue }
            let port = console.targetPort ?? 0
            guard let serial = characterDevices.first(where: { $0.role == .serial && (domain.devices.serials[$0.index].targetPort ?? $0.index) == port })
            else { continue }
            var shared = serial
            shared.role = .console
            shared.index = index
            characterDevices.append(shared)
        }
        if let balloon = domain.devices.memballoon, balloon.model.isVirtio { self.balloon = balloon.alias ?? "balloon0" }
        elementAliases = DeviceAliases.elementAliases(domain)
        for (index, channel) in domain.devices.channels.enumerated() {
            let path = channel.type == .unix ? channel.path ?? runDirectory + "/channel-\(channel.targetName ?? String(index)).sock" : channel.path
            // libvirt's chardev is "char" + the alias (`charchannel0`, `charua-agent`).
            let alias = channel.alias ?? "channel\(index)"
            characterDevices.append(CharacterDevice(
                role: .channel, index: index, alias: alias, chardev: "char" + alias, type: channel.type, path: path,
                targetName: channel.targetName))
        }
    }

    /// libvirt's alias of a disk from its bus and target (`virtio-disk1` for `vdb`); `position`
    /// stands in for a target that names no unit.
    /// `lsiController`: the disk's SCSI controller is an LSI one (its disks are named without a target).
    public static func generatedAlias(of disk: DomainDefinition.Disk, position: Int, lsiController: Bool = false) -> String {
        let unit = DiskTarget.index(of: disk.targetDevice) ?? position
        switch disk.targetBus {
        case .virtio: return "virtio-disk\(unit)"
        case .sata: return "sata0-0-\(unit)"
        case .ide: return "ide0-\(unit / 2)-\(unit % 2)"
        case .scsi:
            let address = disk.scsiAddress
            return lsiController ? "scsi\(address.controller)-\(address.bus)-\(address.unit)" : "scsi\(address.controller)-\(address.bus)-\(address.target)-\(address.unit)"
        case .usb: return "usb-disk\(unit)"
        case .fdc: return "fdc0-0-\(unit)"
        case .xen, .uml, .sd: return "\(disk.targetBus.rawValue)-disk\(unit)"
        }
    }

    /// Block node N's storage node (`libvirt-N-storage`), which opens the file or device.
    public static func storageNode(_ number: UInt32) -> String { "libvirt-\(number)-storage" }
    /// The node that reads a storage slice over `storageNode` (`libvirt-N-slice-sto` over
    /// `libvirt-N-storage`).
    public static func sliceNode(ofStorageNode storageNode: String) -> String {
        storageNode.hasSuffix("-storage") ? String(storageNode.dropLast("storage".count)) + "slice-sto" : storageNode + "-slice-sto"
    }
    /// Block node N's format node (`libvirt-N-format`), which a device or the layer above names.
    public static func formatNode(_ number: UInt32) -> String { "libvirt-\(number)-format" }

    /// The number the next disk's block nodes get (one more than any in use).
    public var nextNodeIndex: UInt32 { min(disks.flatMap { [$0.nodeIndex] + $0.backingNodeIndexes }.max() ?? 0, UInt32.max - 1) + 1 }

    /// Each disk's block node numbers, its image's and its described backing layers'. A running
    /// guest's document says them (`<source index>`, `<backingStore index>`); a definition being
    /// started gets libvirt's numbering (`qemuProcessPrepareDomainStorage`): the disks from the
    /// last to the first, each its image and then its layers top down, counting from 1.
    /// Layers found in the image headers at start come after all of those, numbered the same
    /// way (`qemuProcessPrepareHostStorage`).
    static func blockNodeNumbers(_ disks: [DomainDefinition.Disk]) -> [(top: UInt32, backing: [UInt32])] {
        var numbers = [(top: UInt32, backing: [UInt32])](repeating: (0, []), count: disks.count)
        var next: UInt32 = 1
        func number(_ given: UInt32?) -> UInt32 {
            let number = given ?? next
            next = max(next, min(number, UInt32.max - 1) + 1)
            return number
        }
        // A vhost-user disk has no block nodes (libvirt prepares none for it).
        for index in disks.indices.reversed() where disks[index].type != .vhostuser {
            numbers[index].top = number(disks[index].sourceIndex)
            numbers[index].backing = disks[index].backingChain.map { $0.detected ? 0 : number($0.index) }
        }
        for index in disks.indices.reversed() {
            for (position, layer) in disks[index].backingChain.enumerated() where layer.detected {
                numbers[index].backing[position] = number(layer.index)
            }
        }
        return numbers
    }

    /// The first alias `prefix`N (N = 0, 1, …) not in `used`, as libvirt names hot-plugged
    /// devices (`net1`, `rng0`).
    public static func firstFreeAlias(_ prefix: String, used: Set<String>) -> String {
        var number = 0
        while used.contains(prefix + String(number)) { number += 1 }
        return prefix + String(number)
    }

    /// `prefix` and one more than the highest `prefix`N in `used`, as libvirt names a
    /// hot-plugged input (`input3` after the implicit PS/2 devices' `input1` and `input2`).
    public static func nextAlias(_ prefix: String, after used: Set<String>) -> String {
        let numbers = used.compactMap { $0.hasPrefix(prefix) ? Int32($0.dropFirst(prefix.count)) : nil }.filter { $0 >= 0 && $0 < Int32.max }
        return prefix + String((numbers.max() ?? -1) + 1)
    }

    /// The disk a client names by target (`vda`) or by its image's path, as libvirt accepts both.
    public func disk(named name: String) -> Disk? {
        disks.first { $0.target == name } ?? disks.first { $0.source == name }
    }

    /// A character device by role and position.
    public func characterDevice(_ role: CharacterRole, index: Int) -> CharacterDevice? {
        characterDevices.first { $0.role == role && $0.index == index }
    }
}

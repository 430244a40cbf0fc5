import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Each disk as a `file`/`host_device` storage node, a format node and a `-device`, with
    /// libvirt's node names (`libvirt-N-storage`, `libvirt-N-format`) and aliases.
    mutating func addDisks() throws(CommandLineError) {
        addFloppyController()
        for index in domain.devices.disks.indices { try addDisk(at: index) }
    }

    /// The floppy controller's boot indexes (libvirt's: a floppy boots through its controller,
    /// drive A or B by unit): on q35 an explicit `isa-fdc` device, on i440fx the built-in
    /// controller's `-global` properties. Nothing without a floppy disk.
    mutating func addFloppyController() {
        let floppies = domain.devices.disks.filter { $0.targetBus == .fdc }
        guard !floppies.isEmpty else { return }
        var driveA: Int?, driveB: Int?
        for floppy in floppies {
            let boot = bootIndexes.index(for: .fd, explicit: floppy.bootOrder)
            if (floppy.driveAddress?.unit ?? 0) != 0 { driveB = boot ?? driveB } else { driveA = boot ?? driveA }
        }
        if (domain.os.machine ?? "").contains("q35") {
            addDevice([("driver", .string("isa-fdc"))] + (driveA.map { [("bootindexA", .integer(Int64($0)))] } ?? [])
                + (driveB.map { [("bootindexB", .integer(Int64($0)))] } ?? []))
        } else {
            if let driveA { add("-global", "isa-fdc.bootindexA=\(driveA)") }
            if let driveB { add("-global", "isa-fdc.bootindexB=\(driveB)") }
        }
    }

    /// The disk at `index` of the definition: its nodes and its device.
    mutating func addDisk(at index: Int) throws(CommandLineError) {
        let q35 = (domain.os.machine ?? "").contains("q35")
        let disk = domain.devices.disks[index]
        let names = devices.disks[index]
        guard let unit = DiskTarget.index(of: disk.targetDevice) else {
            throw CommandLineError(.unsupported, "invalid disk target '\(disk.targetDevice)'")
        }
        guard CommandLineSupport.diskDevices.contains(disk.device) else {
            throw CommandLineError(.unsupported, "disk device '\(disk.device.rawValue)' of \(disk.targetDevice) is not supported")
        }
        var members: [(String, JSONValue)]
        switch disk.targetBus {
        case .virtio:
            members = [("driver", .string((disk.model ?? .virtio).device("virtio-blk-pci")))] + Self.virtioOptionMembers(disk.virtio)
            if let thread = disk.ioThread { members.append(("iothread", .string("iothread\(thread)"))) }
            // libvirt's order: ioeventfd, event_idx, num-queues, queue-size.
            if let on = disk.ioEventFD { members.append(("ioeventfd", .bool(on))) }
            if let on = disk.eventIndex { members.append(("event_idx", .bool(on))) }
            if let queues = disk.queues { members.append(("num-queues", .unsigned(UInt64(queues)))) }
            if let size = disk.queueSize { members.append(("queue-size", .unsigned(UInt64(size)))) }
            members += pciPlacement(disk.pciAddress, acpiIndex: disk.acpiIndex)
        case .sata, .ide:
            let oneUnitPerBus = q35 || disk.targetBus == .sata
            let bus = oneUnitPerBus ? "ide.\(unit)" : "ide.\(unit / 2)"
            members = [("driver", .string(disk.device == .cdrom ? "ide-cd" : "ide-hd")), ("bus", .string(bus))]
            if !oneUnitPerBus { members.append(("unit", .integer(Int64(unit % 2)))) }
        case .scsi:
            // On an LSI controller a disk is a SCSI id; on virtio-scsi a channel, target and LUN.
            let address = disk.scsiAddress
            members = [("driver", .string(disk.device == .cdrom ? "scsi-cd" : "scsi-hd")), ("bus", .string("scsi\(address.controller).0"))]
            if domain.devices.isLSIController(address.controller) {
                members.append(("scsi-id", .integer(Int64(address.unit))))
            } else {
                members += [("channel", .integer(Int64(address.bus))), ("scsi-id", .integer(Int64(address.target))), ("lun", .integer(Int64(address.unit)))]
            }
            if let serial = disk.serial { members.append(("device_id", .string(serial))) }
        case .usb:
            // USB mass storage at the port define gave it.
            members = [("driver", .string("usb-storage"))] + usbPlacement(disk.usbAddress)
        case .fdc:
            // A drive on the floppy controller, by unit (its boot index is the controller's).
            members = [("driver", .string("floppy")), ("unit", .integer(Int64(disk.driveAddress?.unit ?? unit % 2)))]
        case .xen, .uml, .sd:
            throw CommandLineError(.unsupported, "disk bus '\(disk.targetBus.rawValue)' of \(disk.targetDevice) is not supported")
        }
        guard [.file, .block, .network, .vhostuser, .nvme].contains(disk.type) else {
            throw CommandLineError(.unsupported, "disk type '\(disk.type.rawValue)' of \(disk.targetDevice) is not supported")
        }
        // A shareable image is opened without QEMU's write lock (libvirt's `share-rw`).
        if disk.shareable { members.append(("share-rw", .bool(true))) }
        let cacheFlags = disk.cache?.flags
        let cache: [(String, JSONValue)] = cacheFlags.map { [("cache", .object([("direct", .bool($0.direct)), ("no-flush", .bool($0.noFlush))]))] } ?? []
        // Secrets from the secret driver, each in a secret object before the disk's nodes:
        // `<auth>`'s password or key, then `<encryption>`'s passphrase.
        let secrets = context.diskSecrets[index]
        var authSecret: String?
        if disk.network?.authentication != nil && disk.network?.networkProtocol != .ssh {
            guard let value = secrets?.authentication else { throw CommandLineError(.unsupported, "the secret of disk \(disk.targetDevice)'s <auth> was not read") }
            let id = names.storageNode + "-auth-secret0"
            addSecret(id: id, value: value)
            authSecret = id
        }
        var encryption: [(String, JSONValue)] = []
        if let encrypted = disk.encryption, disk.hasMedium {
            encryption = try encryptionMembers(encrypted, format: disk.format ?? "raw", target: disk.targetDevice, secret: names.formatNode + "-encryption-secret0")
            guard let value = secrets?.encryption else { throw CommandLineError(.unsupported, "the secret of disk \(disk.targetDevice)'s <encryption> was not read") }
            addSecret(id: names.formatNode + "-encryption-secret0", value: value)
        }
        let storage: [(String, JSONValue)]?
        if let network = disk.network {
            storage = try networkStorageMembers(network, target: disk.targetDevice, storageNode: names.storageNode, authSecret: authSecret)
        } else if let nvme = disk.nvme {
            // QEMU's userspace NVMe driver on the controller, bound to vfio-pci (checked at start).
            storage = [("driver", .string("nvme")), ("device", .string(nvme.controller.description)), ("namespace", .unsigned(nvme.namespace))]
        } else if let source = disk.source {
            storage = [("driver", .string(disk.type == .block ? "host_device" : "file")), ("filename", .string(source))]
                + (disk.io.map { [("aio", .string($0.rawValue))] } ?? [])
        } else {
            storage = nil
        }
        if let vhostUser = disk.vhostUser {
            // A vhost-user-blk server serves the whole disk: no block nodes, a socket chardev.
            members[0] = ("driver", .string((disk.model ?? .virtio).device("vhost-user-blk-pci")))
            members.append(("chardev", .string(try addVhostUserDiskChardev(vhostUser, alias: names.alias))))
        } else if let storage {
            // The storage node always passes discards down (libvirt's rule); the format node
            // decides, from <driver discard>.
            let discard: [(String, JSONValue)] = disk.discard.map { [("discard", .string($0.rawValue))] } ?? []
            let zeroes: [(String, JSONValue)] = disk.detectZeroes.map { [("detect-zeroes", .string($0.rawValue))] } ?? []
            // A transient disk: the image read-only under a qcow2 overlay that the daemon made
            // before QEMU starts, which the guest writes.
            let overlay = names.transientOverlay
            let imageNodes = overlay == nil ? (names.storageNode, names.formatNode) : (names.baseStorageNode, names.baseFormatNode)
            // A described backing chain: its layers first, bottom up, each read-only on the one below.
            let backing = try backingChainNodes(disk, names: names, secrets: secrets, cache: cache, discard: discard)
            add("-blockdev", json: .object(storage + [("node-name", .string(imageNodes.0))] + cache + [("auto-read-only", .bool(true)), ("discard", .string("unmap"))]))
            let (file, formatSlice) = addSliceNode(disk.slice, format: disk.format, luksEncrypted: disk.encryption?.format == .luks, storageNode: imageNodes.0, cache: cache)
            add("-blockdev", json: .object(
                [("node-name", .string(imageNodes.1)), ("read-only", .bool(disk.readonly || overlay != nil))] + discard + zeroes + cache
                    + (encryption.isEmpty ? [("driver", .string(disk.format ?? "raw"))] : encryption) + Self.metadataCacheMember(disk.metadataCacheBytes)
                    + formatSlice + [("file", .string(file))]
                    + Self.backingMember(format: disk.format, below: backing, endsChain: disk.endsChain)))
            if let overlay {
                add("-blockdev", json: .object([("driver", .string("file")), ("filename", .string(overlay)), ("node-name", .string(names.storageNode))] + cache
                    + [("auto-read-only", .bool(true)), ("discard", .string("unmap"))]))
                add("-blockdev", json: .object(
                    [("node-name", .string(names.formatNode)), ("read-only", .bool(false))] + discard + zeroes + cache
                        + [("driver", .string("qcow2")), ("file", .string(names.storageNode)), ("backing", .string(imageNodes.1))]))
            }
            if let copyOnRead = names.copyOnReadNode {
                // Reads from the backing chain are written into the image (libvirt's
                // `qemuBlockStorageGetCopyOnReadProps`).
                add("-blockdev", json: .object([
                    ("driver", .string("copy-on-read")), ("node-name", .string(copyOnRead)), ("file", .string(names.formatNode)), ("discard", .string("unmap")),
                ]))
            }
            members.append(("drive", .string(names.deviceNode)))
        } else if disk.device != .cdrom && disk.device != .floppy {
            throw CommandLineError(.unsupported, "disk \(disk.targetDevice) has no source")
        }
        members.append(("id", .string(names.alias)))
        if disk.targetBus != .fdc, let boot = bootIndexes.index(for: disk.device == .cdrom ? .cdrom : .hd, explicit: disk.bootOrder) {
            members.append(("bootindex", .integer(Int64(boot))))
        }
        if let size = disk.logicalBlockSize { members.append(("logical_block_size", .unsigned(UInt64(size)))) }
        if let size = disk.physicalBlockSize { members.append(("physical_block_size", .unsigned(UInt64(size)))) }
        // The disk's identity, media, cache and error policies, in libvirt's order
        // (qemuBuildDiskDeviceProps).
        if disk.targetBus == .scsi, let wwn = disk.wwn { members.append(("wwn", .unsigned(wwn))) }
        if let rate = disk.rotationRate { members.append(("rotation_rate", .unsigned(UInt64(rate)))) }
        if disk.targetBus == .scsi {
            if let vendor = disk.vendor { members.append(("vendor", .string(vendor))) }
            if let product = disk.product { members.append(("product", .string(product))) }
        }
        // A USB disk's media are fixed unless `<target removable='on'>` (libvirt's default).
        if disk.targetBus == .usb { members.append(("removable", .bool(disk.removable ?? false))) }
        if let cacheFlags { members.append(("write-cache", .string(cacheFlags.writeback ? "on" : "off"))) }
        if let geometry = disk.geometry {
            members += [("cyls", .unsigned(UInt64(geometry.cylinders))), ("heads", .unsigned(UInt64(geometry.heads))), ("secs", .unsigned(UInt64(geometry.sectors)))]
            if let translation = geometry.translation { members.append(("bios-chs-trans", .string(translation.rawValue))) }
        }
        if let serial = disk.serial { members.append(("serial", .string(serial))) }
        if let policy = disk.errorPolicy { members.append(("werror", .string(policy == .enospace ? "enospc" : policy.rawValue))) }
        if let policy = disk.readErrorPolicy ?? (disk.errorPolicy == .enospace ? nil : disk.errorPolicy) { members.append(("rerror", .string(policy.rawValue))) }
        addDevice(members)
    }

    /// A vhost-user disk's socket chardev (`chr-vu-` + the disk's alias, libvirt's name): QEMU
    /// connects to the server's socket, with `reconnect` seconds when asked; a hot-plugged one's
    /// is QMP's structure. Returns the chardev's id.
    mutating func addVhostUserDiskChardev(_ source: DomainDefinition.Disk.VhostUserSource, alias: String) throws(CommandLineError) -> String {
        let chardev = DeviceAliases.vhostUserChardev(alias)
        if forHotplug {
            var data: [(String, JSONValue)] = [
                ("addr", .object([("type", .string("unix")), ("data", .object([("path", .string(source.path))]))])), ("server", .bool(false)),
            ]
            if let seconds = source.reconnectSeconds { data.append(("reconnect", .integer(Int64(seconds)))) }
            add("-chardev", json: .object([("id", .string(chardev)), ("backend", .object([("type", .string("socket")), ("data", .object(data))]))]))
        } else {
            var options: [(String, String)] = [("id", chardev), ("path", source.path)]
            if let seconds = source.reconnectSeconds { options.append(("reconnect", String(seconds))) }
            add("-chardev", try QEMUKeyValue.render("socket", options))
        }
        return chardev
    }

    /// The nodes of `disk`'s described backing chain, added bottom up (libvirt's
    /// `qemuBuildStorageSourceChainAttachPrepareBlockdev`): each layer's storage node with the
    /// disk's I/O mode and cache, and its format node read-only on the next layer. Returns the
    /// top layer's format node, the image's backing; `nil` when no chain is described.
    mutating func backingChainNodes(
        _ disk: DomainDefinition.Disk, names: GuestDevices.Disk, secrets: CommandLineContext.DiskSecrets?, cache: [(String, JSONValue)], discard: [(String, JSONValue)]
    ) throws(CommandLineError) -> String? {
        var below: String?
        for (position, (layer, number)) in zip(disk.backingChain, names.backingNodeIndexes).enumerated().reversed() {
            let storageNode = GuestDevices.storageNode(number), formatNode = GuestDevices.formatNode(number)
            let storage: [(String, JSONValue)]
            switch layer.type {
            case .file, .block:
                guard let path = layer.path else {
                    throw CommandLineError(.unsupported, "a backing store of disk \(disk.targetDevice) names no \(layer.type == .block ? "device" : "file")")
                }
                storage = [("driver", .string(layer.type == .block ? "host_device" : "file")), ("filename", .string(path))]
                    + (disk.io.map { [("aio", .string($0.rawValue))] } ?? [])
            case .network:
                // A layer on a network server, opened by QEMU's driver for its protocol as a
                // network disk's image is, with its credentials in a secret object of its own.
                guard let network = layer.network else {
                    throw CommandLineError(.unsupported, "a backing store of disk \(disk.targetDevice) names no network source")
                }
                var authSecret: String?
                if network.authentication != nil && network.networkProtocol != .ssh {
                    guard let value = secrets?.backingAuthentication[position] else {
                        throw CommandLineError(.unsupported, "the secret of the <auth> of a backing store of disk \(disk.targetDevice) was not read")
                    }
                    authSecret = storageNode + "-auth-secret0"
                    addSecret(id: storageNode + "-auth-secret0", value: value)
                }
                storage = try networkStorageMembers(network, target: disk.targetDevice, storageNode: storageNode, authSecret: authSecret)
            case .dir, .volume, .nvme, .vhostuser:
                throw CommandLineError(.unsupported, "backing store type '\(layer.type.rawValue)' of disk \(disk.targetDevice) is not supported")
            }
            add("-blockdev", json: .object(storage + [("node-name", .string(storageNode))] + cache + [("auto-read-only", .bool(true)), ("discard", .string("unmap"))]))
            let isBottom = below == nil
            // An encrypted layer: its passphrase in a secret object, its format node decrypting.
            var format: [(String, JSONValue)] = [("driver", .string(layer.format))]
            if let encrypted = layer.encryption {
                let secret = formatNode + "-encryption-secret0"
                format = try encryptionMembers(encrypted, format: layer.format, target: disk.targetDevice, secret: secret)
                guard let value = secrets?.backingEncryption[position] else {
                    throw CommandLineError(.unsupported, "the secret of the <encryption> of a backing store of disk \(disk.targetDevice) was not read")
                }
                addSecret(id: secret, value: value)
            }
            let (file, formatSlice) = addSliceNode(layer.slice, format: layer.format, luksEncrypted: layer.encryption?.format == .luks, storageNode: storageNode, cache: cache)
            add("-blockdev", json: .object(
                [("node-name", .string(formatNode)), ("read-only", .bool(true))] + discard + cache
                    + format + Self.metadataCacheMember(layer.metadataCacheBytes) + formatSlice + [("file", .string(file))]
                    + Self.backingMember(format: layer.format, below: below, endsChain: isBottom && disk.endsChain)))
            below = formatNode
        }
        return below
    }

    /// The storage slice of an image over `storageNode` (libvirt's
    /// `qemuBlockStorageSourceGetBlockdevStorageSliceProps`): a raw, unencrypted image's format
    /// node takes the slice's `offset` and `size` itself (returned, with the storage node as its
    /// `file`); any other image reads through a `raw` node of its own (`libvirt-N-slice-sto`,
    /// added here, returned as the format node's `file`).
    mutating func addSliceNode(
        _ slice: DomainDefinition.Disk.StorageSlice?, format: String?, luksEncrypted: Bool, storageNode: String, cache: [(String, JSONValue)]
    ) -> (file: String, formatMembers: [(String, JSONValue)]) {
        guard let slice else { return (storageNode, []) }
        let bounds: [(String, JSONValue)] = [("offset", .unsigned(slice.offset)), ("size", .unsigned(slice.size))]
        guard DomainDefinition.Disk.StorageSlice.needsOwnNode(format: format, luksEncrypted: luksEncrypted) else { return (storageNode, bounds) }
        let sliceNode = GuestDevices.sliceNode(ofStorageNode: storageNode)
        add("-blockdev", json: .object(
            [("driver", .string("raw")), ("node-name", .string(sliceNode))] + bounds
                + [("file", .string(storageNode)), ("auto-read-only", .bool(true)), ("discard", .string("unmap"))] + cache))
        return (sliceNode, [])
    }

    /// A qcow2 format node's `cache-size`: the metadata cache's bytes, when the XML gives them.
    static func metadataCacheMember(_ bytes: UInt64?) -> [(String, JSONValue)] {
        bytes.map { [("cache-size", .unsigned($0))] } ?? []
    }

    /// A format node's `backing`: the next layer's format node; none (`null`) when the
    /// described chain ends there and the format has backing files at all; else absent, so
    /// QEMU follows the image's header.
    static func backingMember(format: String?, below: String?, endsChain: Bool) -> [(String, JSONValue)] {
        if let below { return [("backing", .string(below))] }
        return endsChain && format.map(formatsWithBacking.contains) == true ? [("backing", .null)] : []
    }

    /// The format node's driver and crypto members for an encrypted image (libvirt's
    /// `qemuBlockStorageSourceGetBlockdevFormatProps`): a raw LUKS image is QEMU's `luks`
    /// driver with the passphrase's secret; a qcow2 image carries its `encrypt` options.
    func encryptionMembers(_ encryption: DomainDefinition.Disk.Encryption, format: String, target: String, secret: String) throws(CommandLineError) -> [(String, JSONValue)] {
        guard encryption.engine == .qemu else {
            throw CommandLineError(.unsupported, "disk \(target): the 'librbd' encryption engine is not supported")
        }
        switch (encryption.format, format) {
        case (.luks, "raw"):
            return [("driver", .string("luks")), ("key-secret", .string(secret))]
        case (.luks, "qcow2"):
            return [("driver", .string("qcow2")), ("encrypt", .object([("format", .string("luks")), ("key-secret", .string(secret))]))]
        case (.luks2, _):
            throw CommandLineError(.unsupported, "luks2 is currently not supported by the qemu encryption engine")
        case (.qcow, _):
            throw CommandLineError(.unsupported, "disk \(target): qcow's AES encryption is insecure and QEMU no longer opens it for guests")
        default:
            throw CommandLineError(.unsupported, "disk \(target): '\(encryption.format.rawValue)' encryption of a '\(format)' image is not supported")
        }
    }

    /// Image formats that can name a backing file (and so take QEMU's `backing` option).
    static let formatsWithBacking: Set<String> = ["qcow2", "qcow", "qed", "vmdk"]
}

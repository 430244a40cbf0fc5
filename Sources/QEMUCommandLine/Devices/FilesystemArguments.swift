import CorralJSON
import DomainXML

extension Builder {
    /// Shared host directories: over 9p, `-fsdev local` with the access mode's security model
    /// (`fsdev-fsN`) and a `virtio-9p-pci` device (`fsN`) with the mount tag; over virtiofs, a
    /// `chr-vu-fsN` chardev on virtiofsd's vhost-user socket and a `vhost-user-fs-pci` device.
    mutating func addFilesystems() throws(CommandLineError) {
        let aliases = DeviceAliases.counted("fs", given: domain.devices.filesystems.map(\.alias))
        for (index, filesystem) in domain.devices.filesystems.enumerated() {
            let alias = aliases[index]
            switch filesystem.driver {
            case .path?, nil: break
            case .virtiofs?:
                // DefinitionChecks refuses it without shared memory, as libvirt does.
                try addVirtioFS(filesystem, alias: alias)
                continue
            case .handle?, .loop?, .nbd?, .ploop?:
                throw CommandLineError(.unsupported, "filesystem driver type '\(filesystem.driver?.rawValue ?? "")' is not supported")
            }
            guard filesystem.sourceSocket == nil, let accessMode = filesystem.accessMode else {
                throw CommandLineError(.unsupported, "a 9p share needs a source directory, not a socket")
            }
            var options = [("security_model", accessMode.securityModel)]
            if let multidevs = filesystem.multipleDevices, multidevs != .default { options.append(("multidevs", multidevs.rawValue)) }
            if let mode = filesystem.fileMode { options.append(("fmode", DomainDefinition.Filesystem.modeText(mode))) }
            if let mode = filesystem.directoryMode { options.append(("dmode", DomainDefinition.Filesystem.modeText(mode))) }
            if let policy = filesystem.writePolicy { options.append(("writeout", policy.rawValue)) }
            options += [("id", "fsdev-\(alias)"), ("path", filesystem.source)]
            if filesystem.readonly { options.append(("readonly", "on")) }
            add("-fsdev", try QEMUKeyValue.render("local", options))
            addDevice([
                ("driver", .string((filesystem.model ?? .virtio).device("virtio-9p-pci")))] + Self.virtioOptionMembers(filesystem.virtio) + [("id", .string(alias)), ("fsdev", .string("fsdev-\(alias)")), ("mount_tag", .string(filesystem.target)),
            ] + pciPlacement(filesystem.pciAddress))
        }
    }

    /// A virtiofs share: QEMU connects to the vhost-user socket of the share's virtiofsd (the
    /// one the daemon starts just before QEMU, or the `<source socket>` someone else serves).
    private mutating func addVirtioFS(_ filesystem: DomainDefinition.Filesystem, alias: String) throws(CommandLineError) {
        let chardev = DeviceAliases.vhostUserChardev(alias)
        let socket = filesystem.sourceSocket ?? context.virtioFSSocket(alias: alias)
        add("-chardev", try QEMUKeyValue.render("socket", [("id", chardev), ("path", socket)]))
        var members: [(String, JSONValue)] = [("driver", .string("vhost-user-fs-pci"))] + Self.virtioOptionMembers(filesystem.virtio)
            + [("id", .string(alias)), ("chardev", .string(chardev))]
        if let size = filesystem.queueSize {
            guard let value = Int64(exactly: size) else { throw CommandLineError(.unsupported, "the virtiofs queue size \(size) is out of range") }
            members.append(("queue-size", .integer(value)))
        }
        members.append(("tag", .string(filesystem.target)))
        if let order = filesystem.bootOrder { members.append(("bootindex", .integer(Int64(order)))) }
        addDevice(members + pciPlacement(filesystem.pciAddress))
    }
}

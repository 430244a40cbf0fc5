import CorralJSON
import DomainXML

extension Builder {
    /// Shared host directories over 9p: `-fsdev local` with the access mode's security model
    /// (`fsdev-fsN`) and a `virtio-9p-pci` device (`fsN`) with the mount tag.
    mutating func addFilesystems() throws(CommandLineError) {
        for (index, filesystem) in domain.devices.filesystems.enumerated() {
            let alias = filesystem.alias ?? "fs\(index)"
            switch filesystem.driver {
            case .path?, nil: break
            case .virtiofs?:
                // DefinitionChecks refuses it without shared memory, as libvirt does.
                throw CommandLineError(.unsupported, "filesystem driver type 'virtiofs' needs virtiofsd, which Corral does not run yet")
            case .handle?, .loop?, .nbd?, .ploop?:
                throw CommandLineError(.unsupported, "filesystem driver type '\(filesystem.driver?.rawValue ?? "")' is not supported")
            }
            var options = [("security_model", filesystem.accessMode.securityModel)]
            if let multidevs = filesystem.multipleDevices, multidevs != .default { options.append(("multidevs", multidevs.rawValue)) }
            if let policy = filesystem.writePolicy { options.append(("writeout", policy.rawValue)) }
            options += [("id", "fsdev-\(alias)"), ("path", filesystem.source)]
            if filesystem.readonly { options.append(("readonly", "on")) }
            add("-fsdev", try QEMUKeyValue.render("local", options))
            addDevice([
                ("driver", .string("virtio-9p-pci")), ("id", .string(alias)), ("fsdev", .string("fsdev-\(alias)")), ("mount_tag", .string(filesystem.target)),
            ] + pciPlacement(filesystem.pciAddress))
        }
    }
}

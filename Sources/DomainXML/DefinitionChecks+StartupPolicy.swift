extension DefinitionChecks {
    /// libvirt's checks of `<source startupPolicy>` (virDomainDiskDefValidateStartupPolicy):
    /// only for local storage (files, block devices and volumes), and `requisite` only for a
    /// CD-ROM or floppy drive.
    static func checkStartupPolicy(_ disk: DomainDefinition.Disk) throws(DomainXMLError) {
        guard let policy = disk.startupPolicy else { return }
        if disk.type == .network || disk.type == .vhostuser || disk.type == .nvme {
            throw DomainXMLError(.invalid, "disk startupPolicy '\(policy.rawValue)' is not allowed for disk of '\(disk.type.rawValue)' type")
        }
        if policy == .requisite && disk.device != .cdrom && disk.device != .floppy {
            throw DomainXMLError(.invalid, "disk startupPolicy 'requisite' is allowed only for cdrom or floppy")
        }
    }
}

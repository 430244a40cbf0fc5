import CorralProtocol
import DomainXML
import QEMUCommandLine

extension DomainDriver {
    /// The secret values `definition`'s disks name, by disk index: a network disk's `<auth>`
    /// (a Ceph secret for RBD, else an iSCSI one, as libvirt looks them up by usage) and an
    /// `<encryption>` passphrase (a volume secret). A missing secret or value is libvirt's error.
    /// `only`: the one disk being plugged in.
    nonisolated func diskSecrets(_ definition: DomainDefinition, only: Int? = nil) throws(RemoteError) -> [Int: CommandLineContext.DiskSecrets] {
        var found: [Int: CommandLineContext.DiskSecrets] = [:]
        for (index, disk) in definition.devices.disks.enumerated() where only == nil || only == index {
            var values = CommandLineContext.DiskSecrets()
            if let network = disk.network, let auth = network.authentication, network.networkProtocol != .ssh {
                let type: SecretDefinition.UsageType = network.networkProtocol == .rbd ? .ceph : .iscsi
                values.authentication = try secretDriver().valueForGuest(uuid: auth.secretUUID, usage: auth.secretUsage, usageType: type)
            }
            if let encryption = disk.encryption, disk.hasMedium {
                guard encryption.secretUUID != nil || encryption.secretUsage != nil else {
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "the <encryption> of disk \(disk.targetDevice) names no secret")
                }
                values.encryption = try secretDriver().valueForGuest(uuid: encryption.secretUUID, usage: encryption.secretUsage, usageType: .volume)
            }
            if values.authentication != nil || values.encryption != nil { found[index] = values }
        }
        return found
    }

    private nonisolated func secretDriver() throws(RemoteError) -> SecretDriver {
        guard let secrets else { throw RemoteError(code: .noSupport, domain: .secret, detail: "no secret driver") }
        return secrets
    }
}

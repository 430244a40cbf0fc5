import CorralProtocol
import DomainXML
import QEMUCommandLine

extension DomainDriver {
    /// The secret values `definition`'s disks name, by disk index: a network disk's `<auth>`
    /// and those of the network layers of its described backing chain (a Ceph secret for RBD,
    /// else an iSCSI one, as libvirt looks them up by usage) and an
    /// `<encryption>` passphrase (a volume secret). A missing secret or value is libvirt's error.
    /// `only`: the one disk being plugged in.
    nonisolated func diskSecrets(_ definition: DomainDefinition, only: Int? = nil) throws(RemoteError) -> [Int: CommandLineContext.DiskSecrets] {
        var found: [Int: CommandLineContext.DiskSecrets] = [:]
        for (index, disk) in definition.devices.disks.enumerated() where only == nil || only == index {
            var values = CommandLineContext.DiskSecrets()
            if let network = disk.network, network.authentication != nil {
                values.authentication = try authenticationValue(network)
            }
            for (position, layer) in disk.backingChain.enumerated() {
                if let encryption = layer.encryption {
                    guard encryption.secretUUID != nil || encryption.secretUsage != nil else {
                        throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "the <encryption> of a backing store of disk \(disk.targetDevice) names no secret")
                    }
                    values.backingEncryption[position] = try secretDriver().valueForGuest(uuid: encryption.secretUUID, usage: encryption.secretUsage, usageType: .volume)
                }
                guard let network = layer.network, network.authentication != nil else { continue }
                values.backingAuthentication[position] = try authenticationValue(network)
            }
            if let encryption = disk.encryption, disk.hasMedium {
                guard encryption.secretUUID != nil || encryption.secretUsage != nil else {
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "the <encryption> of disk \(disk.targetDevice) names no secret")
                }
                values.encryption = try secretDriver().valueForGuest(uuid: encryption.secretUUID, usage: encryption.secretUsage, usageType: .volume)
            }
            if values != CommandLineContext.DiskSecrets() { found[index] = values }
        }
        return found
    }

    /// The iSCSI LUNs given whole (`<hostdev type='scsi'>` with an iSCSI source) with the
    /// passwords of their `<auth>` from the secret driver, as `bindings` had them without.
    nonisolated func withHostDevicePasswords(
        _ bindings: [Int: CommandLineContext.HostDeviceBinding], of definition: DomainDefinition
    ) throws(RemoteError) -> [Int: CommandLineContext.HostDeviceBinding] {
        var bindings = bindings
        for (index, hostDevice) in definition.devices.hostDevices.enumerated() {
            guard let source = hostDevice.iscsi, source.authentication != nil, case .iscsi? = bindings[index] else { continue }
            bindings[index] = .iscsi(password: try authenticationValue(source))
        }
        return bindings
    }

    /// The secret value of a network source's `<auth>`: a Ceph secret for RBD, else an iSCSI
    /// one (libvirt looks them up by usage); `nil` for SSH, which QEMU authenticates with the
    /// agent.
    private nonisolated func authenticationValue(_ network: DomainDefinition.Disk.NetworkSource) throws(RemoteError) -> [UInt8]? {
        guard let auth = network.authentication, network.networkProtocol != .ssh else { return nil }
        let type: SecretDefinition.UsageType = network.networkProtocol == .rbd ? .ceph : .iscsi
        return try secretDriver().valueForGuest(uuid: auth.secretUUID, usage: auth.secretUsage, usageType: type)
    }

    private nonisolated func secretDriver() throws(RemoteError) -> SecretDriver {
        guard let secrets else { throw RemoteError(code: .noSupport, domain: .secret, detail: "no secret driver") }
        return secrets
    }
}

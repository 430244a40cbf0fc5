import CorralJSON
import DomainXML

extension Builder {
    /// The vsock: `vhost-vsock-pci` with the context ID the daemon acquired on the vhost-vsock
    /// descriptor it hands QEMU (`vhostfd`), as libvirt does.
    mutating func addVsock() throws(CommandLineError) {
        guard let vsock = domain.devices.vsock else { return }
        guard let acquired = context.vsock else { throw CommandLineError(.unsupported, "unable to open vhost-vsock device") }
        addDevice([
            ("driver", .string(vsock.model.device("vhost-vsock-pci")))] + Self.virtioOptionMembers(vsock.virtio) + [("id", .string(vsock.alias ?? "vsock0")),
            ("guest-cid", .integer(Int64(acquired.cid))), ("vhostfd", .string(String(acquired.descriptor))),
        ] + pciPlacement(vsock.pciAddress))
    }
}

import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// virtio RNGs backed by a host random device (`rng-random` objects).
    mutating func addRNGs() throws(CommandLineError) {
        for index in domain.devices.rngs.indices { try addRNG(at: index) }
    }

    /// The RNG at `index`: its backend object (libvirt's `obj` + alias) and its device.
    mutating func addRNG(at index: Int) throws(CommandLineError) {
        let rng = domain.devices.rngs[index]
        guard rng.model == .virtio, rng.backendModel == .random else {
            throw CommandLineError(.unsupported, "rng model '\(rng.model.rawValue)' with backend '\(rng.backendModel.rawValue)' is not supported")
        }
        let alias = rng.alias ?? "rng\(index)", object = "obj" + alias
        add("-object", json: .object([("qom-type", .string("rng-random")), ("id", .string(object)), ("filename", .string(rng.backendPath ?? "/dev/urandom"))]))
        addDevice([("driver", .string("virtio-rng-pci"))] + Self.virtioOptionMembers(rng.virtio) + [("rng", .string(object)), ("id", .string(alias))] + pciPlacement(rng.pciAddress))
    }
}

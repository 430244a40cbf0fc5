import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// virtio RNGs backed by a host random device (`rng-random` objects), an EGD daemon
    /// (`rng-egd` on a character device) or QEMU's own generator (`rng-builtin`).
    mutating func addRNGs() throws(CommandLineError) {
        let aliases = DeviceAliases.counted("rng", given: domain.devices.rngs.map(\.alias))
        for index in domain.devices.rngs.indices { try addRNG(at: index, alias: aliases[index]) }
    }

    /// The RNG at `index`: its backend object (libvirt's `obj` + alias) and its device. A
    /// hot-plugged one has its alias already.
    mutating func addRNG(at index: Int, alias given: String? = nil) throws(CommandLineError) {
        let rng = domain.devices.rngs[index]
        let alias = given ?? rng.alias ?? "rng\(index)", object = "obj" + alias
        switch rng.backendModel {
        case .random:
            add("-object", json: .object([("qom-type", .string("rng-random")), ("id", .string(object)), ("filename", .string(rng.backendPath ?? "/dev/urandom"))]))
        case .egd:
            guard let source = rng.egdSource else { throw CommandLineError(.unsupported, "missing EGD backend type") }
            let chardevID = "char" + alias
            try addChardevOption(source, id: chardevID, name: alias)
            add("-object", json: .object([("qom-type", .string("rng-egd")), ("id", .string(object)), ("chardev", .string(chardevID))]))
        case .builtin:
            add("-object", json: .object([("qom-type", .string("rng-builtin")), ("id", .string(object))]))
        }
        let driver = rng.model.device("virtio-rng-pci")
        // libvirt's limit: `max-bytes` per `period` ms (1000 when unset).
        let rate: [(String, JSONValue)] = rng.rateBytes.map { [("max-bytes", .integer(Int64($0))), ("period", .integer(Int64(rng.ratePeriod ?? 1000)))] } ?? []
        addDevice(
            [("driver", .string(driver))] + Self.virtioOptionMembers(rng.virtio) + [("rng", .string(object)), ("id", .string(alias))] + rate
                + pciPlacement(rng.pciAddress))
    }
}

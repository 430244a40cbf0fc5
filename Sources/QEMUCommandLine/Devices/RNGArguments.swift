import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// virtio RNGs backed by a host random device (`rng-random` objects).
    mutating func addRNGs() throws(CommandLineError) {
        for (index, rng) in domain.devices.rngs.enumerated() {
            guard rng.model == .virtio, rng.backendModel == .random else {
                throw CommandLineError(.unsupported, "rng model '\(rng.model.rawValue)' with backend '\(rng.backendModel.rawValue)' is not supported")
            }
            let object = "objrng\(index)"
            add("-object", json: .object([("qom-type", .string("rng-random")), ("id", .string(object)), ("filename", .string(rng.backendPath ?? "/dev/urandom"))]))
            addDevice([("driver", .string("virtio-rng-pci")), ("rng", .string(object)), ("id", .string(rng.alias ?? "rng\(index)"))])
        }
    }
}

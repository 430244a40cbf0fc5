import CorralJSON
import DomainXML

extension Builder {
    /// virtio-crypto devices, as libvirt writes them: the backend object (`obj` + alias, with
    /// its queues when given), then `virtio-crypto-pci` on it.
    mutating func addCryptos() {
        let cryptos = domain.devices.cryptos
        let aliases = DeviceAliases.counted("crypto", given: cryptos.map(\.alias))
        for (crypto, alias) in zip(cryptos, aliases) {
            let object = "obj" + alias
            let queues: [(String, JSONValue)] = crypto.queues.map { [("queues", .integer(Int64($0)))] } ?? []
            add("-object", json: .object([("qom-type", .string(crypto.backend.objectType)), ("id", .string(object))] + queues))
            addDevice(
                [("driver", .string("virtio-crypto-pci"))] + Self.virtioOptionMembers(crypto.virtio) + [("cryptodev", .string(object)), ("id", .string(alias))]
                    + pciPlacement(crypto.pciAddress))
        }
    }
}

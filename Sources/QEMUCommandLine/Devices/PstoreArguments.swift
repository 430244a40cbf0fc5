import CorralJSON
import DomainXML

extension Builder {
    /// The pstore: a shared file-backed memory object (`mem` + alias) holding the records, and
    /// QEMU's `acpi-erst` device on it, as libvirt writes them.
    mutating func addPstore() {
        guard let pstore = domain.devices.pstore else { return }
        let alias = pstore.alias ?? "pstore0", memory = "mem" + alias
        switch pstore.backend {
        case .acpiERST:
            add("-object", json: .object([
                ("qom-type", .string("memory-backend-file")), ("id", .string(memory)), ("mem-path", .string(pstore.path)),
                ("size", .unsigned(pstore.sizeKiB * 1024)), ("share", .bool(true)),
            ]))
            addDevice([("driver", .string("acpi-erst")), ("id", .string(alias)), ("memdev", .string(memory))] + pciPlacement(pstore.pciAddress))
        }
    }
}

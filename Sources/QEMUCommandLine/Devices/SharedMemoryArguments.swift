import CorralJSON
import DomainXML

extension Builder {
    /// `<shmem>` regions as libvirt gives them: a shared file-backed memory object on
    /// `/dev/shm/NAME` (`shmmem-shmemN`) and an `ivshmem-plain` device (`shmemN`) mapping it.
    mutating func addSharedMemory() throws(CommandLineError) {
        for (index, region) in domain.devices.sharedMemory.enumerated() {
            guard region.model == .ivshmemPlain else {
                throw CommandLineError(.unsupported, "shmem model '\(region.model.rawValue)' is not supported (only ivshmem-plain)")
            }
            let alias = DeviceAliases.positional("shmem", given: region.alias, position: index)
            add("-object", json: .object([
                ("qom-type", .string("memory-backend-file")), ("id", .string("shmmem-\(alias)")), ("mem-path", .string("/dev/shm/\(region.name)")),
                ("size", .unsigned(region.sizeBytes)), ("share", .bool(true)),
            ]))
            addDevice([("driver", .string("ivshmem-plain")), ("id", .string(alias)), ("memdev", .string("shmmem-\(alias)"))] + pciPlacement(region.pciAddress))
        }
    }
}

import CorralJSON
import DomainXML

extension Builder {
    /// Panic devices: ISA `pvpanic` (at its I/O port when given), PCI `pvpanic-pci`; the
    /// Hyper-V model is the CPU's `hv-crash` flag instead (``cpuFlags()``).
    mutating func addPanics() throws(CommandLineError) {
        for (index, panic) in domain.devices.panics.enumerated() {
            switch panic.model {
            case .isa:
                var members: [(String, JSONValue)] = [("driver", .string("pvpanic"))]
                if let port = panic.ioPort { members.append(("ioport", .unsigned(UInt64(port)))) }
                addDevice(members)
            case .pvpanic:
                addDevice([("driver", .string("pvpanic-pci")), ("id", .string("panic\(index)"))] + pciPlacement(panic.pciAddress))
            case .hyperv:
                break
            case .pseries, .s390:
                throw CommandLineError(.unsupported, "panic model '\(panic.model.rawValue)' is not supported by this QEMU binary")
            }
        }
    }

    /// Parallel ports: `isa-parallel` devices on their chardevs (`charparallelN`).
    mutating func addParallelPorts() throws(CommandLineError) {
        for (index, parallel) in domain.devices.parallels.enumerated() {
            let chardev = "charparallel\(index)"
            try addChardevOption(parallel, id: chardev, name: "parallel\(index)")
            addDevice([("driver", .string("isa-parallel")), ("chardev", .string(chardev)), ("id", .string(DeviceAliases.positional("parallel", given: parallel.alias, position: index)))])
        }
    }
}

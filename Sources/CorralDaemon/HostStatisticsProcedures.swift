import CorralProtocol
import DomainXML
import QEMUProbe

/// Handlers of the host statistics calls (`virsh nodecpustats`, `nodememstats`, `freecell`,
/// `cpu-models`). Their files are read on the thread pool.
enum HostStatisticsProcedures {
    static func register(in table: inout ProcedureTable, emulator: EmulatorCapabilities) {
        table.registerAsync(Remote.NodeGetCPUStats.self) { arguments, _ throws(RemoteError) in
            try checkFlags(arguments.flags, function: "virHostCPUGetStats")
            try checkCount(arguments.nparams)
            guard arguments.cpuNum >= -1 else {
                throw RemoteError.invalidArgument("cpuNum in virNodeGetCPUStats only accepts -1 as a negative value", domain: .domain)
            }
            let result = try await BlockingWork.run { () throws(RemoteError) in
                try HostStatistics.cpuStats(cpu: arguments.cpuNum, nparams: arguments.nparams)
            }
            return .init(params: result.params, nparams: result.nparams)
        }
        table.registerAsync(Remote.NodeGetMemoryStats.self) { arguments, _ throws(RemoteError) in
            try checkFlags(arguments.flags, function: "virHostMemGetStats")
            try checkCount(arguments.nparams)
            let result = try await BlockingWork.run { () throws(RemoteError) in
                try HostStatistics.memoryStats(cell: arguments.cellNum, nparams: arguments.nparams)
            }
            return .init(params: result.params, nparams: result.nparams)
        }
        table.registerAsync(Remote.NodeGetCellsFreeMemory.self) { arguments, _ throws(RemoteError) in
            .init(cells: try await BlockingWork.run { () throws(RemoteError) in
                try HostStatistics.cellsFreeMemory(start: arguments.startCell, maximum: arguments.maxcells)
            })
        }
        table.registerAsync(Remote.NodeGetCPUMap.self) { arguments, _ throws(RemoteError) in
            try checkFlags(arguments.flags, function: "virHostCPUGetMap")
            let (count, online) = try await BlockingWork.run { HostStatistics.cpuMap() }
            var map: [UInt8] = []
            if arguments.needMap != 0 {
                map = [UInt8](repeating: 0, count: min(2048, (count + 7) / 8))
                for cpu in online where cpu / 8 < map.count { map[cpu / 8] |= 1 << (cpu % 8) }
            }
            return .init(cpumap: map, online: arguments.needOnline != 0 ? UInt32(online.count) : 0, ret: Int32(clamping: count))
        }
        table.registerAsync(Remote.NodeGetFreeMemory.self) { _, _ throws(RemoteError) in
            .init(freeMem: try await BlockingWork.run { HostStatistics.freeMemory() })
        }
        table.register(Remote.ConnectGetCPUModelNames.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuConnectGetCPUModelNames")
            guard DomainCapabilitiesXML.knownArchitectures.contains(arguments.arch) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "cannot find architecture \(arguments.arch)")
            }
            // The emulator's named models (as domain capabilities list them), x86's for both x86
            // architectures as libvirt lists them; none is known for other architectures, which
            // Corral does not run.
            let models = DomainXMLOptions.architectures.contains(arguments.arch) ? emulator.namedCPUModels.map(\.name) : []
            return .init(models: arguments.needResults != 0 ? models : [], ret: Int32(models.count))
        }
    }

    /// libvirt's server refuses a negative or too large parameter count before the driver runs
    /// (as internal errors of the RPC layer, as libvirtd's answers show).
    static func checkCount(_ nparams: Int32) throws(RemoteError) {
        guard nparams >= 0 else { throw RemoteError.internalError("nparams must be non-negative", domain: .rpc) }
        guard nparams <= 16 else { throw RemoteError.internalError("nparams too large", domain: .rpc) }
    }

    /// The host calls take no flags; libvirt reports others without the code's prefix.
    static func checkFlags(_ flags: UInt32, function: String) throws(RemoteError) {
        guard flags == 0 else { throw RemoteError.invalidArgument("unsupported flags (0x\(String(flags, radix: 16))) in function \(function)") }
    }
}

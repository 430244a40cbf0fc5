import CorralProtocol
import DomainXML
import QEMUProbe
import XDR

/// Handlers for the connection- and host-level REMOTE procedures.
enum ConnectionProcedures {
    /// The libvirt version Corral reports for itself (`CONNECT_GET_LIB_VERSION`): 9.0.0, the
    /// protocol revision it implements.
    static let libraryVersion: UInt64 = 9_000_000

    static func register(in table: inout ProcedureTable, host: HostInformation, emulators: HostEmulators) {
        let emulator = emulators.primary
        let capabilities = CapabilitiesXML.format(host: host, emulator: emulator, i686: emulators.i686)

        // The listener's scheme until the client has authenticated, then none, as libvirtd answers.
        table.register(Remote.AuthList.self) { _, context in .init(types: [context.transport.authentication.wireValue]) }
        table.register(Remote.ConnectSupportsFeature.self) { arguments, _ in
            switch ConnectionFeature(rawValue: arguments.feature) {
            // String typed parameters: every call that returns them filters them for clients
            // that do not say they take them.
            case .programKeepalive, .remoteCloseCallback, .remoteEventCallback, .typedParameterString, .networkUpdateHasCorrectOrder,
                .migrationV3, .migrationParams, .migrationPeerToPeer:
                return .init(supported: 1)
            case .fileDescriptorPassing, .migrateChangeProtection, .migrationOffline, nil: return .init(supported: 0)
            }
        }
        table.register(Remote.ConnectGetType.self) { _, _ in .init(type: "QEMU") }
        table.register(Remote.ConnectGetVersion.self) { _, _ throws(RemoteError) in
            guard emulator.version != 0 else {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "Cannot determine the version of the emulator \(emulator.path)")
            }
            return .init(hvVer: emulator.version)
        }
        table.register(Remote.ConnectGetLibVersion.self) { _, _ in .init(libVer: libraryVersion) }
        table.register(Remote.ConnectGetHostname.self) { _, _ in .init(hostname: host.hostname) }
        table.register(Remote.ConnectGetURI.self) { _, context in .init(uri: context.openURI ?? "qemu:///system") }
        table.register(Remote.ConnectGetCapabilities.self) { _, _ in .init(capabilities: capabilities) }
        table.registerAsync(Remote.ConnectGetDomainCapabilities.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuConnectGetDomainCapabilities")
            let request = DomainCapabilitiesXML.Request(
                emulator: arguments.emulatorbin, arch: arguments.arch, machine: arguments.machine, virtType: arguments.virttype)
            // The host's firmware descriptors (a few small files): off the event loops.
            let firmware = try await BlockingWork.run { () throws(RemoteError) in FirmwareDescriptor.installed() }
            return .init(capabilities: try DomainCapabilitiesXML.format(request, emulator: emulator, i686: emulators.i686, firmware: firmware))
        }
        // `virsh hypervisor-cpu-compare`: a CPU against the host model of the emulator and
        // virtualisation type asked for. Off the event loops: the text may be megabytes, and
        // the first call finds the host model.
        table.registerAsync(Remote.ConnectCompareHypervisorCPU.self) { arguments, _ throws(RemoteError) in
            // VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE, _VALIDATE_XML (the text is checked as
            // Corral reads it in either case).
            let failIncompatible: UInt32 = 1
            try DomainProcedures.checkFlags(arguments.flags, allowed: 3, function: "qemuConnectCompareHypervisorCPU")
            let request = DomainCapabilitiesXML.Request(emulator: arguments.emulator, arch: arguments.arch, machine: arguments.machine, virtType: arguments.virttype)
            let served = try DomainCapabilitiesXML.resolve(request, emulator: emulator, i686: emulators.i686)
            let comparison = try await BlockingWork.run { () throws(RemoteError) in
                try HostCPUComparison.compare(arguments.xmlCPU, emulator: served.emulator, kvm: served.kvm)
            }
            if arguments.flags & failIncompatible != 0, case .incompatible(let reason) = comparison {
                throw RemoteError(code: .cpuIncompatible, domain: .cpu, detail: reason)
            }
            return .init(result: comparison.code)
        }
        table.register(Remote.ConnectGetMaxVcpus.self) { _, _ in
            .init(maxVcpus: Int32(emulator.machines.map(\.maximumCPUs).max() ?? 1))
        }
        table.register(Remote.NodeGetInfo.self) { _, _ in
            .init(
                model: host.architecture,
                memory: host.memoryKiB,
                cpus: Int32(host.cpus),
                mhz: Int32(host.mhz),
                nodes: Int32(host.nodes),
                sockets: Int32(host.sockets),
                cores: Int32(host.cores),
                threads: Int32(host.threads)
            )
        }
        table.register(Remote.NodeGetSecurityModel.self) { _, _ in .init(model: "", doi: "") }
        table.register(Remote.ConnectIsSecure.self) { _, context in .init(secure: context.transport.isSecure ? 1 : 0) }
        table.registerAsync(Remote.ConnectGetSysinfo.self) { arguments, _ throws(RemoteError) in
            guard arguments.flags == 0 else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unsupported flags (0x\(String(arguments.flags, radix: 16))) in function qemuConnectGetSysinfo") }
            // dmidecode runs off the event loops.
            return .init(sysinfo: try await BlockingWork.run { () throws(RemoteError) in try HostSysinfo.read() })
        }
        table.register(Remote.ConnectRegisterCloseCallback.self) { _, _ in XDRVoid() }
        table.register(Remote.ConnectUnregisterCloseCallback.self) { _, _ in XDRVoid() }
    }
}

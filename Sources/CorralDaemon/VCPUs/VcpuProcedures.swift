import CorralProtocol
import DomainXML
import XDR
import XMLTree

/// `setvcpus` and `vcpupin`/`emulatorpin`, each in the domain's job, on the running guest
/// (`--live`), its persistent definition (`--config`) or both, with libvirt's rules and messages.
enum VcpuProcedures {
    static let live = ModificationImpact.liveFlag, config = ModificationImpact.configFlag
    /// `VIR_DOMAIN_VCPU_MAXIMUM`.
    static let maximum: UInt32 = 4

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, driver: DomainDriver, events: EventHub) {
        @Sendable func setVcpus(_ handle: RemoteDomain, _ count: UInt32, flags: UInt32, api: String) async throws(RemoteError) {
            try DomainProcedures.checkFlags(flags, allowed: live | config | maximum, function: "qemuDomainSetVcpusFlags")
            guard count > 0 else { throw RemoteError.invalidArgument("nvcpus in \(api) must not be zero", domain: .domain) }
            guard flags & maximum == 0 || flags & config != 0 else {
                throw RemoteError(code: .invalidArgument, domain: .domain, detail: "Flag 'VIR_DOMAIN_AFFECT_CONFIG' is required by flag 'VIR_DOMAIN_VCPU_MAXIMUM'")
            }
            guard count <= UInt32(DomainLimits.maximumVCPUs) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "requested vcpus is greater than max allowable vcpus: \(count) > \(DomainLimits.maximumVCPUs)")
            }
            let wanted = Int(count)
            let name = try registry.record(for: handle).name
            try await driver.jobs.run(name, "set vcpus") { () async throws(RemoteError) in
                let record = try registry.record(for: handle)
                let impact = try ModificationImpact(flags: flags, record: record)
                if flags & maximum != 0 {
                    guard !impact.live else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "maximum vcpu count of a live domain can't be modified") }
                    if let topology = record.definition.cpu?.topology {
                        guard topology.vcpuCount == wanted else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "CPU topology doesn't match the desired vcpu count") }
                    }
                    try await DomainDocumentEdits.redefine(record, registry: registry, options: driver.options) { VcpuDocument.setMaximum(&$0, maximum: wanted) }
                    return
                }
                if impact.config, wanted > record.definition.vcpus {
                    throw RemoteError(
                        code: .invalidArgument, domain: .qemu,
                        detail: "requested vcpus is greater than max allowable vcpus for the persistent domain: \(wanted) > \(record.definition.vcpus)")
                }
                if impact.live { try await driver.setLiveVcpus(wanted, of: record) }
                if impact.config {
                    try await DomainDocumentEdits.redefine(record, registry: registry, options: driver.options) { VcpuDocument.setCount(&$0, current: wanted) }
                }
            }
        }
        table.registerAsync(Remote.DomainSetVcpus.self) { arguments, _ throws(RemoteError) in
            try await setVcpus(arguments.dom, arguments.nvcpus, flags: live, api: "virDomainSetVcpus")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSetVcpusFlags.self) { arguments, _ throws(RemoteError) in
            try await setVcpus(arguments.dom, arguments.nvcpus, flags: arguments.flags, api: "virDomainSetVcpusFlags")
            return XDRVoid()
        }

        /// Pins vCPU `vcpu` (or, with `nil`, the emulator) to the CPUs of `map`.
        @Sendable func pin(_ handle: RemoteDomain, vcpu: Int?, map: [UInt8], flags: UInt32, api: String, function: String) async throws(RemoteError) {
            try DomainProcedures.checkFlags(flags, allowed: live | config, function: function)
            guard !map.isEmpty else { throw RemoteError.invalidArgument("maplen in \(api) must be greater than zero", domain: .domain) }
            let cpus = DomainDefinition.CPUSet(map: map)
            let name = try registry.record(for: handle).name
            try await driver.jobs.run(name, vcpu == nil ? "pin emulator" : "pin vcpu") { () async throws(RemoteError) in
                let record = try registry.record(for: handle)
                let impact = try ModificationImpact(flags: flags, record: record)
                if let vcpu, impact.config, vcpu >= record.definition.vcpus {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "vcpu \(vcpu) is out of range of persistent cpu count \(record.definition.currentVcpus)")
                }
                guard !cpus.cpus.isEmpty else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "Empty cpu list for pinning") }
                if impact.live, let guest = record.runtime {
                    if let vcpu, vcpu >= guest.vcpuMaximum {
                        throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "vcpu \(vcpu) is out of range of live cpu count \(guest.vcpuMaximum)")
                    }
                    let threads = try await GuestStatistics.vcpuThreads(guest)
                    if let vcpu {
                        // An unplugged vCPU takes its pin when it is plugged in.
                        if vcpu < threads.count { try ThreadPinning.pin(thread: threads[vcpu], to: cpus) }
                    } else {
                        let ioThreads = record.definition.ioThreadIDs.isEmpty ? [:] : try await GuestStatistics.ioThreads(guest)
                        try ThreadPinning.pinEmulator(pid: guest.pid, vcpuThreads: threads, ioThreads: Array(ioThreads.values), to: cpus)
                    }
                    registry.updateGuest(record.uuid) { guest in
                        guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { VcpuDocument.setPin(&$0, vcpu: vcpu, cpus: cpus) }
                    }
                    await driver.liveXMLChanged(record.uuid)
                    let field = vcpu.map { "cputune.vcpupin\($0)" } ?? "cputune.emulatorpin"
                    events.tunableChanged(record.handle, parameters: [TypedParameter(field, .string(cpus.description))])
                }
                if impact.config {
                    try await DomainDocumentEdits.redefine(record, registry: registry, options: driver.options) { VcpuDocument.setPin(&$0, vcpu: vcpu, cpus: cpus) }
                }
            }
        }
        table.registerAsync(Remote.DomainPinVcpu.self) { arguments, _ throws(RemoteError) in
            try await pin(arguments.dom, vcpu: Int(arguments.vcpu), map: arguments.cpumap, flags: live, api: "virDomainPinVcpu", function: "qemuDomainPinVcpuFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainPinVcpuFlags.self) { arguments, _ throws(RemoteError) in
            try await pin(
                arguments.dom, vcpu: Int(arguments.vcpu), map: arguments.cpumap, flags: arguments.flags, api: "virDomainPinVcpuFlags", function: "qemuDomainPinVcpuFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainPinEmulator.self) { arguments, _ throws(RemoteError) in
            try await pin(arguments.dom, vcpu: nil, map: arguments.cpumap, flags: arguments.flags, api: "virDomainPinEmulator", function: "qemuDomainPinEmulator")
            return XDRVoid()
        }
    }
}

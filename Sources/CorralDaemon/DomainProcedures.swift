import CorralProtocol
import QEMUCommandLine
import DomainXML
import Glibc
import XDR

/// Handlers for defining, looking up, listing and describing domains.
enum DomainProcedures {
    /// The `virConnectListAllDomainsFlags` bits (all of libvirt 9.0's).
    static let knownListFlags: UInt32 = 0xFFFF

    /// The largest definition (bytes of XML) parsed on the event loop; larger ones go to the
    /// thread pool. A usual guest's XML is 1–8 KiB and parses in well under a millisecond.
    static let largestDefinitionParsedOnLoop = 32 * 1024

    /// `VIR_DOMAIN_UNDEFINE_MANAGED_SAVE`.
    static let undefineManagedSaveFlag: UInt32 = 1
    /// `VIR_DOMAIN_UNDEFINE_NVRAM`.
    static let undefineNVRAMFlag: UInt32 = 4
    /// `VIR_DOMAIN_UNDEFINE_TPM`: remove an emulated TPM's state even when it is persistent.
    static let undefineTPMFlag: UInt32 = 32
    /// `VIR_DOMAIN_UNDEFINE_KEEP_TPM`: keep an emulated TPM's state.
    static let undefineKeepTPMFlag: UInt32 = 64

    static func register(
        in table: inout ProcedureTable, registry: DomainRegistry, jobs: DomainJobs, options: DomainXMLOptions, stateDirectory: String,
        updatingCPU: @escaping @Sendable (String, DomainDefinition) -> String = { xml, _ in xml }, managedSavePath: @escaping @Sendable (String) -> String
    ) {
        // MARK: Defining (each change in the domain's job; the disk and large parses off the event loop)
        //
        // Define and undefine run on their connection's event loop (`onEventLoop`): a usual
        // definition parses in a few hundred microseconds there. A define's journal record is
        // written by the loop itself, asynchronously (`DomainRegistry.defineFromEventLoop`): no
        // thread hop at all. Undefine's write (and a define the loop cannot journal) crosses to
        // the thread pool: two thread wake-ups, not six.
        @Sendable func parse(_ xml: String) throws(RemoteError) -> ParsedDomain {
            do throws(DomainXMLError) {
                return try DomainXMLParser.parse(xml, options: options)
            } catch {
                throw RemoteError(domainXMLError: error)
            }
        }
        @Sendable func define(_ xml: String, _ operation: String) async throws(RemoteError) -> RemoteDomain {
            let parsed = xml.utf8.count <= largestDefinitionParsedOnLoop ? try parse(xml) : try await BlockingWork.run { () throws(RemoteError) in try parse(xml) }
            return try await jobs.run(parsed.definition.name, operation) { () async throws(RemoteError) -> RemoteDomain in
                try await registry.defineFromEventLoop(parsed).0
            }
        }
        @Sendable func undefine(_ handle: RemoteDomain, flags: UInt32, _ operation: String) async throws(RemoteError) {
            let name = try registry.record(for: handle).name
            try await jobs.run(name, operation) { () async throws(RemoteError) in
                let record = try registry.record(for: handle)
                if record.hasManagedSave && flags & undefineManagedSaveFlag == 0 {
                    throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "Refusing to undefine while domain managed save image exists")
                }
                let image = record.hasManagedSave ? managedSavePath(record.name) : nil
                guard flags & undefineTPMFlag == 0 || flags & undefineKeepTPMFlag == 0 else {
                    throw RemoteError(code: .invalidArgument, domain: .domain, detail: "Flags 'VIR_DOMAIN_UNDEFINE_TPM' and 'VIR_DOMAIN_UNDEFINE_KEEP_TPM' are mutually exclusive")
                }
                // An emulated TPM's state goes with the definition (a running guest keeps it
                // until it stops: the swtpm has it open), unless kept.
                let emulated = record.definition.devices.tpms.first { $0.backend == .emulator }
                let removesTPM = emulated.map { flags & undefineTPMFlag != 0 || (!$0.persistentState && flags & undefineKeepTPMFlag == 0) } ?? false
                let uuid = record.definition.uuid
                // VIR_DOMAIN_UNDEFINE_NVRAM: the UEFI variable store goes too (the one the
                // definition names, or the one the daemon made for firmware='efi').
                let os = record.definition.os
                // (Only a file: a block device or a network store stays, unlike libvirt's, which
                // would unlink a block device's node.)
                let nvram = flags & undefineNVRAMFlag == 0 || (os.hasNVRAM && !os.nvramIsFile)
                    ? nil : os.nvram ?? (os.firmware == .efi ? stateDirectory + "/nvram/" + record.name + "_VARS.fd" : nil)
                try await BlockingWork.run { () throws(RemoteError) in
                    try registry.undefine(handle, flags: flags)
                    if let image, unlink(image) != 0 && errno != ENOENT {
                        throw SaveImageFile.systemError("Failed to remove managed save file '\(image)'")
                    }
                    if removesTPM && !record.isActive { TPMEmulator.removeState(stateDirectory: stateDirectory, uuid: uuid) }
                    if let nvram, unlink(nvram) != 0 && errno != ENOENT {
                        throw RemoteError(code: .systemError, domain: .qemu, detail: "failed to remove nvram: \(nvram): \(String(cString: strerror(errno)))")
                    }
                }
            }
        }
        table.registerAsync(Remote.DomainDefineXML.self, onEventLoop: true) { arguments, _ throws(RemoteError) in
            .init(dom: try await define(arguments.xml, "remoteDispatchDomainDefineXML"))
        }
        table.registerAsync(Remote.DomainDefineXMLFlags.self, onEventLoop: true) { arguments, _ throws(RemoteError) in
            try checkFlags(arguments.flags, allowed: 1, function: "qemuDomainDefineXMLFlags")  // VALIDATE
            return .init(dom: try await define(arguments.xml, "remoteDispatchDomainDefineXMLFlags"))
        }
        table.registerAsync(Remote.DomainUndefine.self, onEventLoop: true) { arguments, _ throws(RemoteError) in
            try await undefine(arguments.dom, flags: 0, "remoteDispatchDomainUndefine")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainUndefineFlags.self, onEventLoop: true) { arguments, _ throws(RemoteError) in
            try checkFlags(arguments.flags, allowed: 0x7F, function: "qemuDomainUndefineFlags")
            try await undefine(arguments.dom, flags: arguments.flags, "remoteDispatchDomainUndefineFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSetAutostart.self) { arguments, _ throws(RemoteError) in
            let name = try registry.record(for: arguments.dom).name
            try await jobs.run(name, "remoteDispatchDomainSetAutostart") { () async throws(RemoteError) in
                try await BlockingWork.run { () throws(RemoteError) in try registry.setAutostart(arguments.dom, arguments.autostart != 0) }
            }
            return XDRVoid()
        }

        // MARK: Lookups
        table.register(Remote.DomainLookupByName.self) { arguments, _ throws(RemoteError) in
            guard let record = registry.record(name: arguments.name) else {
                throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching name '\(arguments.name)'")
            }
            return .init(dom: record.handle)
        }
        table.register(Remote.DomainLookupByUUID.self) { arguments, _ throws(RemoteError) in
            guard let record = registry.record(uuid: arguments.uuid) else {
                throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(arguments.uuid)'")
            }
            return .init(dom: record.handle)
        }
        table.register(Remote.DomainLookupByID.self) { arguments, _ throws(RemoteError) in
            guard let record = registry.record(id: arguments.id) else {
                throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching id \(arguments.id)")
            }
            return .init(dom: record.handle)
        }

        // MARK: Lists and counts
        table.register(Remote.ConnectListAllDomains.self) { arguments, _ throws(RemoteError) in
            try checkFlags(arguments.flags, allowed: knownListFlags, function: "qemuConnectListAllDomains")
            let matching = registry.records { matches($0, flags: arguments.flags) }
            guard arguments.needResults != 0 else { return .init(domains: [], ret: UInt32(matching.count)) }
            return .init(domains: matching.map(\.handle), ret: UInt32(matching.count))
        }
        table.register(Remote.ConnectNumOfDomains.self) { _, _ in .init(num: Int32(registry.records { $0.isActive }.count)) }
        table.register(Remote.ConnectNumOfDefinedDomains.self) { _, _ in .init(num: Int32(registry.records { !$0.isActive }.count)) }
        table.register(Remote.ConnectListDomains.self) { arguments, _ throws(RemoteError) in
            guard arguments.maxids >= 0, arguments.maxids <= 16384 else {
                throw RemoteError(code: .rpc, domain: .rpc, detail: "maxids > REMOTE_DOMAIN_LIST_MAX")
            }
            let ids = registry.records { $0.isActive }.map(\.id).sorted()
            return .init(ids: Array(ids.prefix(Int(arguments.maxids))))
        }
        table.register(Remote.ConnectListDefinedDomains.self) { arguments, _ throws(RemoteError) in
            guard arguments.maxnames >= 0, arguments.maxnames <= 16384 else {
                throw RemoteError(code: .rpc, domain: .rpc, detail: "maxnames > REMOTE_DOMAIN_LIST_MAX")
            }
            let names = registry.records { !$0.isActive }.map(\.name).sorted()
            return .init(names: Array(names.prefix(Int(arguments.maxnames))))
        }

        // MARK: Per-domain facts
        table.register(Remote.DomainGetXMLDesc.self) { arguments, context throws(RemoteError) in
            // VIR_DOMAIN_XML_SECURE, _INACTIVE, _UPDATE_CPU (an inactive definition's CPU made
            // concrete against the host model; a running guest's is already), _MIGRATABLE
            // (which implies SECURE).
            let secureFlag: UInt32 = 1, inactiveFlag: UInt32 = 2, updateCPUFlag: UInt32 = 4, migratableFlag: UInt32 = 8
            if arguments.flags & (secureFlag | migratableFlag) != 0 && context.isReadOnly {
                throw RemoteError(code: .operationDenied, domain: .domain, detail: "virDomainGetXMLDesc with secure flag")
            }
            try checkFlags(arguments.flags, allowed: 0xF, function: "qemuDomainGetXMLDesc")
            let record = try registry.record(for: arguments.dom)
            if arguments.flags & migratableFlag != 0 {
                return .init(xml: try MigratableXML.describe(record, inactive: arguments.flags & inactiveFlag != 0, options: options))
            }
            // The live XML for a running domain, unless the inactive definition is asked for.
            var xml = arguments.flags & inactiveFlag == 0 ? (record.liveXML ?? record.xml) : record.xml
            if arguments.flags & updateCPUFlag != 0 && (arguments.flags & inactiveFlag != 0 || record.liveXML == nil) { xml = updatingCPU(xml, record.definition) }
            return .init(xml: arguments.flags & secureFlag != 0 ? xml : DomainSecrets.stripped(xml))
        }
        table.register(Remote.DomainGetState.self) { arguments, _ throws(RemoteError) in
            try checkFlags(arguments.flags, allowed: 0, function: "qemuDomainGetState")
            let record = try registry.record(for: arguments.dom)
            return .init(state: record.state.rawValue, reason: record.reason)
        }
        // On the connection's event loop: an inactive domain's answer needs no other thread (a
        // task elsewhere costs each call two thread hops, ~40 µs of CPU here).
        table.registerAsync(Remote.DomainGetInfo.self, onEventLoop: true) { arguments, _ throws(RemoteError) in
            let record = try registry.record(for: arguments.dom)
            // The CPU time is read from /proc: on the thread pool, not the event loop.
            let pid = record.pid
            let cpuTime = record.isActive ? try await BlockingWork.run { ProcessLauncher.cpuTime(pid: pid) } : 0
            return .init(
                state: UInt8(record.state.rawValue), maxMem: record.definition.memoryKiB, memory: record.definition.currentMemoryKiB,
                nrVirtCpu: UInt16(clamping: record.runtime?.vcpuCount ?? record.definition.currentVcpus), cpuTime: cpuTime)
        }
        table.register(Remote.DomainIsActive.self) { arguments, _ throws(RemoteError) in
            .init(active: try registry.record(for: arguments.dom).isActive ? 1 : 0)
        }
        table.register(Remote.DomainIsPersistent.self) { arguments, _ throws(RemoteError) in
            .init(persistent: try registry.record(for: arguments.dom).persistent ? 1 : 0)
        }
        table.register(Remote.DomainIsUpdated.self) { arguments, _ throws(RemoteError) in
            .init(updated: try registry.record(for: arguments.dom).updated ? 1 : 0)
        }
        table.register(Remote.DomainGetAutostart.self) { arguments, _ throws(RemoteError) in
            .init(autostart: try registry.record(for: arguments.dom).autostart ? 1 : 0)
        }
        table.register(Remote.DomainHasManagedSaveImage.self) { arguments, _ throws(RemoteError) in
            try checkFlags(arguments.flags, allowed: 0, function: "qemuDomainHasManagedSaveImage")
            return .init(result: try registry.record(for: arguments.dom).hasManagedSave ? 1 : 0)
        }
        table.register(Remote.DomainGetOSType.self) { arguments, _ throws(RemoteError) in
            .init(type: try registry.record(for: arguments.dom).definition.os.type)
        }
        table.register(Remote.DomainGetMaxMemory.self) { arguments, _ throws(RemoteError) in
            .init(memory: try registry.record(for: arguments.dom).definition.memoryKiB)
        }
        table.register(Remote.DomainGetVcpusFlags.self) { arguments, _ throws(RemoteError) in
            // VIR_DOMAIN_AFFECT_LIVE 1, _CONFIG 2, VIR_DOMAIN_VCPU_MAXIMUM 4 (the guest's own
            // count, 8, needs the agent's vCPU calls, which Corral does not make).
            try checkFlags(arguments.flags, allowed: 1 | 2 | 4, function: "qemuDomainGetVcpusFlags")
            let record = try registry.record(for: arguments.dom)
            try ModificationImpact.checkOneDefinition(arguments.flags)
            let impact = try ModificationImpact(flags: arguments.flags & 3, record: record)
            if impact.live, let guest = record.runtime {
                return .init(num: Int32(arguments.flags & 4 == 0 ? guest.vcpuCount : guest.vcpuMaximum))
            }
            return .init(num: Int32(arguments.flags & 4 == 0 ? record.definition.currentVcpus : record.definition.vcpus))
        }
        table.register(Remote.DomainGetSecurityLabel.self) { arguments, _ throws(RemoteError) in
            _ = try registry.record(for: arguments.dom)
            return .init(label: "", enforcing: 0)
        }
        table.register(Remote.DomainGetMessages.self) { arguments, _ throws(RemoteError) in
            try checkFlags(arguments.flags, allowed: 3, function: "qemuDomainGetMessages")
            let record = try registry.record(for: arguments.dom)
            // DEPRECATION = 1, TAINTING = 2; 0 means both. Corral records no deprecations.
            guard arguments.flags == 0 || arguments.flags & 2 != 0 else { return .init(msgs: []) }
            let messages = record.taints.compactMap { DomainTaint(rawValue: $0) }.map { "tainted: \($0.message)" }
            return .init(msgs: messages)
        }
    }

    /// libvirt's list filters: each pair of flags filters only when exactly one of it is set.
    static func matches(_ record: DomainRecord, flags: UInt32) -> Bool {
        func filter(_ a: UInt32, _ b: UInt32, _ isA: Bool) -> Bool {
            let hasA = flags & a != 0, hasB = flags & b != 0
            if hasA == hasB { return true }
            return hasA ? isA : !isA
        }
        guard filter(1, 2, record.isActive), filter(4, 8, record.persistent), filter(1024, 2048, record.autostart), filter(256, 512, record.hasManagedSave)
        else { return false }
        if flags & (4096 | 16384) != 0 && flags & (8192 | 32768) == 0 { return false }  // no snapshots or checkpoints
        let stateBits = flags & (16 | 32 | 64 | 128)
        if stateBits != 0 {
            let bit: UInt32
            switch record.state {
            case .running: bit = 16
            case .paused: bit = 32
            case .shutoff: bit = 64
            default: bit = 128
            }
            if stateBits & bit == 0 { return false }
        }
        return true
    }

    static func checkFlags(_ flags: UInt32, allowed: UInt32, domain: ErrorDomain = .qemu, function: String) throws(RemoteError) {
        guard flags & ~allowed == 0 else {
            throw RemoteError(code: .invalidArgument, domain: domain, detail: "unsupported flags (0x\(String(flags & ~allowed, radix: 16))) in function \(function)")
        }
    }
}

extension RemoteError {
    /// The libvirt error for a refused domain XML.
    init(domainXMLError error: DomainXMLError) {
        switch error.kind {
        case .malformed:
            self.init(code: .xmlDetail, domain: .xml, detail: "(domain_definition):\(error.line ?? 0): \(error.message)")
        case .invalid:
            self.init(code: .xmlError, domain: .domain, detail: error.description)
        case .unsupported:
            self.init(code: .configUnsupported, domain: .qemu, detail: error.description)
        case .namespace:
            self.init(code: .internalError, domain: .qemu, detail: error.description)
        case .internalError:
            self.init(code: .internalError, domain: .domain, detail: error.description)
        case .detail:
            self.init(code: .xmlDetail, domain: .domain, detail: error.message)
        }
    }
}

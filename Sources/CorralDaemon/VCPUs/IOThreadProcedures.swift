import CorralProtocol
import DomainXML
import Foundation
import XDR

/// `iothreadinfo` and `iothreadpin`: where each I/O thread of a guest may run, on the running
/// guest (`--live`, its threads' affinity from QEMU's `query-iothreads`) or in its persistent
/// definition (`--config`, `<iothreadpin>`, else `<vcpu cpuset>`, else every host CPU).
enum IOThreadProcedures {
    static let live = ModificationImpact.liveFlag, config = ModificationImpact.configFlag

    /// The length of a cpumap of this host's CPUs (libvirt's `VIR_CPU_MAPLEN(hostcpus)`).
    static var hostMapLength: Int { (max(1, Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))) + 7) / 8 }

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, driver: DomainDriver, events: EventHub) {
        IOThreadChanges.register(in: &table, registry: registry, driver: driver)
        table.registerAsync(Remote.DomainGetIothreadInfo.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config, function: "qemuDomainGetIOThreadInfo")
            try ModificationImpact.checkOneDefinition(arguments.flags, domain: .domain)
            let record = try registry.record(for: arguments.dom)
            let impact = try ModificationImpact(flags: arguments.flags, record: record)
            let length = hostMapLength
            var info: [IOThreadInformation] = []
            if impact.live, let guest = record.runtime {
                for (id, thread) in try await GuestStatistics.ioThreads(guest).sorted(by: { $0.key < $1.key }) {
                    info.append(.init(iothreadID: UInt32(id), cpumap: ProcessStatistics.affinity(thread: thread, length: length)))
                }
            } else {
                let definition = record.definition
                for id in definition.ioThreadIDs {
                    let cpus = definition.cpuTune.ioThreadPins[id] ?? definition.vcpuCPUSet
                    info.append(.init(iothreadID: UInt32(id), cpumap: cpus?.map(length: length) ?? StatisticsProcedures.allHostCPUs(length: length)))
                }
            }
            return .init(info: info, ret: UInt32(info.count))
        }

        table.registerAsync(Remote.DomainPinIothread.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config, function: "qemuDomainPinIOThread")
            let cpus = DomainDefinition.CPUSet(map: arguments.cpumap)
            guard !cpus.cpus.isEmpty else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "Empty iothread cpumap list for pinning") }
            guard arguments.iothreadsID <= UInt32(DomainLimits.maximumIOThreads) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "iothread \(arguments.iothreadsID) not found")
            }
            let id = Int(arguments.iothreadsID)
            let name = try registry.record(for: arguments.dom).name
            try await driver.jobs.run(name, "pin iothread") { () async throws(RemoteError) in
                let record = try registry.record(for: arguments.dom)
                let impact = try ModificationImpact(flags: arguments.flags, record: record)
                if impact.live, let guest = record.runtime {
                    guard let thread = try await GuestStatistics.ioThreads(guest)[id] else {
                        throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "iothread \(id) not found")
                    }
                    try ThreadPinning.pin(thread: thread, to: cpus)
                    registry.updateGuest(record.uuid) { guest in
                        guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { VcpuDocument.setIOThreadPin(&$0, ioThread: id, cpus: cpus) }
                    }
                    await driver.liveXMLChanged(record.uuid)
                    events.tunableChanged(record.handle, parameters: [TypedParameter("cputune.iothreadpin\(id)", .string(cpus.description))])
                }
                if impact.config {
                    guard record.definition.ioThreadIDs.contains(id) else {
                        throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "iothreadid \(id) not found")
                    }
                    try await DomainDocumentEdits.redefine(record, registry: registry, options: driver.options) { VcpuDocument.setIOThreadPin(&$0, ioThread: id, cpus: cpus) }
                }
            }
            return XDRVoid()
        }
    }
}

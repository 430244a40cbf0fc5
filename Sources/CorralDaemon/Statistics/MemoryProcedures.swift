import CorralJSON
import CorralProtocol
import DomainXML
import QEMUCommandLine
import QMP
import XDR
import XMLTree

/// `setmem` and `setmaxmem`: the balloon of a running guest, and `<currentMemory>`/`<memory>`
/// of its persistent definition, each in the domain's job.
enum MemoryProcedures {
    /// `virDomainModificationImpact` and `VIR_DOMAIN_MEM_MAXIMUM`.
    static let live = ModificationImpact.liveFlag, config = ModificationImpact.configFlag, maximum: UInt32 = 4

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, driver: DomainDriver, options: DomainXMLOptions) {
        let jobs = driver.jobs
        @Sendable func setMemory(_ handle: RemoteDomain, _ kib: UInt64, flags: UInt32, _ operation: String) async throws(RemoteError) {
            try DomainProcedures.checkFlags(flags, allowed: live | config | maximum, function: "qemuDomainSetMemoryFlags")
            let name = try registry.record(for: handle).name
            try await jobs.run(name, operation) { () async throws(RemoteError) in
                let record = try registry.record(for: handle)
                let impact = try ModificationImpact(flags: flags, record: record)
                let affectLive = impact.live, affectConfig = impact.config
                if flags & maximum != 0 {
                    if affectLive {
                        throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot resize the maximum memory on an active domain")
                    }
                    guard kib > 0 else { throw RemoteError.invalidArgument("memory in virDomainSetMaxMemory must not be zero", domain: .domain) }
                    try await DomainDocumentEdits.redefine(record, registry: registry, options: options) { document in
                        setElement(&document, "memory", kib)
                        let current = document.element(named: "currentMemory").flatMap { UInt64($0.text) } ?? kib
                        setElement(&document, "currentMemory", min(current, kib))
                    }
                    return
                }
                // The running guest's maximum is its live one (the definition may have changed).
                let liveMaximum = record.runtime.flatMap { try? XMLTreeParser.parse($0.liveXML) }?.element(named: "memory").flatMap { UInt64($0.text) }
                guard !affectConfig || kib <= record.definition.memoryKiB, !affectLive || kib <= liveMaximum ?? record.definition.memoryKiB else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "cannot set memory higher than max memory")
                }
                if affectLive, let guest = record.runtime {
                    guard guest.devices.balloon != nil else {
                        throw RemoteError(
                            code: .operationInvalid, domain: .qemu,
                            detail: "Unable to change memory of active domain without the balloon device and guest OS balloon driver")
                    }
                    let (bytes, overflow) = kib.multipliedReportingOverflow(by: 1024)
                    guard !overflow, let value = Int64(exactly: bytes) else { throw RemoteError(code: .overflow, domain: .qemu, detail: "memory size too large") }
                    do throws(QMPError) {
                        _ = try await guest.qmp.execute("balloon", arguments: .object([("value", .number(JSONNumber(value)))]))
                    } catch {
                        throw GuestStatistics.monitorFailure(error)
                    }
                    registry.updateGuest(record.uuid) { guest in
                        guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { setElement(&$0, "currentMemory", kib) }
                    }
                    await driver.liveXMLChanged(record.uuid)
                }
                if affectConfig {
                    try await DomainDocumentEdits.redefine(record, registry: registry, options: options) { setElement(&$0, "currentMemory", kib) }
                }
            }
        }
        table.registerAsync(Remote.DomainSetMemory.self) { arguments, _ throws(RemoteError) in
            try await setMemory(arguments.dom, arguments.memory, flags: live, "remoteDispatchDomainSetMemory")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSetMaxMemory.self) { arguments, _ throws(RemoteError) in
            try await setMemory(arguments.dom, arguments.memory, flags: maximum, "remoteDispatchDomainSetMaxMemory")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSetMemoryFlags.self) { arguments, _ throws(RemoteError) in
            try await setMemory(arguments.dom, arguments.memory, flags: arguments.flags, "remoteDispatchDomainSetMemoryFlags")
            return XDRVoid()
        }
    }

    /// Sets `<name unit='KiB'>kib</name>`, adding it after `<memory>` when missing.
    static func setElement(_ document: inout XMLElement, _ name: String, _ kib: UInt64) {
        let element = XMLElement(name: name, attributes: [XMLAttribute(name: "unit", value: "KiB")], children: [.text(String(kib))])
        if let index = document.children.firstIndex(where: { if case .element(let e) = $0, e.name == name, e.namespace == nil { true } else { false } }) {
            document.children[index] = .element(element)
        } else if let index = document.children.firstIndex(where: { if case .element(let e) = $0, e.name == "memory" { true } else { false } }) {
            document.children.insert(.element(element), at: index + 1)
        } else {
            document.children.append(.element(element))
        }
    }
}

import CorralProtocol
import DomainXML
import XMLTree

/// `virsh perf` (`DOMAIN_GET_PERF_EVENTS`, `DOMAIN_SET_PERF_EVENTS`): one boolean per libvirt
/// perf event; live, the host counters on the guest's QEMU process (``PerfCounters``), else the
/// definition's `<perf>`. Each change takes the domain's job.
enum PerfEventParameters {
    typealias Event = DomainDefinition.PerfEvent

    static func get(_ handle: RemoteDomain, flags: UInt32, _ context: TunableProcedures.Context) throws(RemoteError) -> [TypedParameter] {
        let (record, impact) = try TunableProcedures.getImpact(handle, nparams: 0, flags: flags, function: "qemuDomainGetPerfEvents", context)
        if impact.live, let guest = record.runtime {
            let counters = guest.perfCounters
            return Event.allCases.map { TypedParameter($0.rawValue, .boolean(counters?.isEnabled($0) ?? false)) }
        }
        let settings = record.definition.perf.settings
        return Event.allCases.map { TypedParameter($0.rawValue, .boolean(settings[$0] == true)) }
    }

    static func set(_ handle: RemoteDomain, _ parameters: [TypedParameter], flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) {
        try DomainProcedures.checkFlags(flags, allowed: TunableProcedures.live | TunableProcedures.config, function: "qemuDomainSetPerfEvents")
        try TunableProcedures.validate(parameters, Dictionary(uniqueKeysWithValues: Event.allCases.map { ($0.rawValue, .boolean) }))
        let changes: [(Event, Bool)] = parameters.compactMap { parameter in
            guard let event = Event(rawValue: parameter.field), case .boolean(let on) = parameter.value else { return nil }
            return (event, on)
        }
        let name = try context.registry.record(for: handle).name
        try await context.driver.jobs.run(name, "set perf events") { () async throws(RemoteError) in
            let record = try context.registry.record(for: handle)
            let impact = try ModificationImpact(flags: flags, record: record)
            if impact.live, let guest = record.runtime {
                // As libvirt: changes apply one after another; those made before a counter that
                // cannot be opened stay made (and the live XML says so).
                let counters = guest.perfCounters ?? PerfCounters(pid: guest.pid)
                var applied: [(Event, Bool)] = []
                var failure: RemoteError?
                for (event, on) in changes {
                    do throws(RemoteError) {
                        if on { try counters.enable(event) } else { counters.disable(event) }
                        applied.append((event, on))
                    } catch {
                        failure = error
                        break
                    }
                }
                if guest.perfCounters == nil { context.registry.updateGuest(record.uuid) { $0.perfCounters = counters } }
                if !applied.isEmpty { await context.editLive(record) { settingEvents(applied, in: $0) } }
                if let failure { throw failure }
            }
            if impact.config {
                try await context.editConfig(record) { settingEvents(changes, in: $0) }
            }
        }
    }

    /// `document` with `changes` made to its `<perf>`, in libvirt's order.
    static func settingEvents(_ changes: [(Event, Bool)], in document: XMLElement) -> XMLElement {
        var events = DomainDefinition.PerfEvents()
        if let perf = document.element(named: "perf"), let given = try? DomainDefinition.PerfEvents(perf) { events = given }
        for (event, on) in changes { events.settings[event] = on }
        return TopLevelElements.setting("perf", to: events.element, in: document)
    }
}

import CorralProtocol
import DomainXML
import XDR
import XMLTree

/// `schedinfo`, `memtune`, `blkiotune`, `numatune` (and `perf`, in its own file): a running guest's values from its control
/// group (changed there), a definition's from its `<cputune>`, `<memtune>`, `<blkiotune>` and
/// `<numatune>`, with libvirt's parameter names, types, limits and messages. Each change takes
/// the domain's job.
enum TunableProcedures {
    static let live = ModificationImpact.liveFlag, config = ModificationImpact.configFlag
    static let stringOkay = [TypedParameter].stringOkayFlag

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, driver: DomainDriver, events: EventHub) {
        let context = Context(registry: registry, driver: driver, events: events)
        table.register(Remote.DomainGetSchedulerType.self) { arguments, _ throws(RemoteError) in
            _ = try registry.record(for: arguments.dom)
            guard driver.cgroups.mounts[.cpu] != nil else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cgroup CPU controller is not mounted") }
            return .init(type: "posix", nparams: Int32(SchedulerParameters.names.count))
        }
        table.registerAsync(Remote.DomainGetSchedulerParameters.self) { arguments, _ throws(RemoteError) in
            .init(params: try await SchedulerParameters.get(arguments.dom, nparams: arguments.nparams, flags: 0, context))
        }
        table.registerAsync(Remote.DomainGetSchedulerParametersFlags.self) { arguments, _ throws(RemoteError) in
            .init(params: try await SchedulerParameters.get(arguments.dom, nparams: arguments.nparams, flags: arguments.flags, context))
        }
        table.registerAsync(Remote.DomainSetSchedulerParameters.self) { arguments, _ throws(RemoteError) in
            try await SchedulerParameters.set(arguments.dom, arguments.params, flags: 0, context)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSetSchedulerParametersFlags.self) { arguments, _ throws(RemoteError) in
            try await SchedulerParameters.set(arguments.dom, arguments.params, flags: arguments.flags, context)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainGetMemoryParameters.self) { arguments, _ throws(RemoteError) in
            let (parameters, count) = try await MemoryParameters.get(arguments.dom, nparams: arguments.nparams, flags: arguments.flags, context)
            return .init(params: parameters, nparams: count)
        }
        table.registerAsync(Remote.DomainSetMemoryParameters.self) { arguments, _ throws(RemoteError) in
            try await MemoryParameters.set(arguments.dom, arguments.params, flags: arguments.flags, context)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainGetBlkioParameters.self) { arguments, _ throws(RemoteError) in
            let (parameters, count) = try await BlkioParameters.get(arguments.dom, nparams: arguments.nparams, flags: arguments.flags, context)
            return .init(params: parameters, nparams: count)
        }
        table.registerAsync(Remote.DomainSetBlkioParameters.self) { arguments, _ throws(RemoteError) in
            try await BlkioParameters.set(arguments.dom, arguments.params, flags: arguments.flags, context)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainGetNumaParameters.self) { arguments, _ throws(RemoteError) in
            let (parameters, count) = try await NUMAParameters.get(arguments.dom, nparams: arguments.nparams, flags: arguments.flags, context)
            return .init(params: parameters, nparams: count)
        }
        table.registerAsync(Remote.DomainSetNumaParameters.self) { arguments, _ throws(RemoteError) in
            try await NUMAParameters.set(arguments.dom, arguments.params, flags: arguments.flags, context)
            return XDRVoid()
        }
        table.register(Remote.DomainGetPerfEvents.self) { arguments, _ throws(RemoteError) in
            .init(params: try PerfEventParameters.get(arguments.dom, flags: arguments.flags, context))
        }
        table.registerAsync(Remote.DomainSetPerfEvents.self) { arguments, _ throws(RemoteError) in
            try await PerfEventParameters.set(arguments.dom, arguments.params, flags: arguments.flags, context)
            return XDRVoid()
        }
    }

    /// What every tunable call needs.
    struct Context: Sendable {
        var registry: DomainRegistry
        var driver: DomainDriver
        var events: EventHub

        /// The running guest's control group, or libvirt's error for the missing controller.
        func cgroup(_ guest: GuestRuntime, _ controller: CgroupLayout.Controller) throws(RemoteError) -> GuestCgroup {
            guard let group = guest.cgroup, group.directories[controller] != nil else { throw GuestCgroup.unavailable(controller) }
            return group
        }

        /// The running guest's live definition.
        func live(_ guest: GuestRuntime) throws(RemoteError) -> DomainDefinition { try driver.liveDocument(guest).definition }

        /// Changes the live document.
        func editLive(_ record: DomainRecord, _ change: @escaping (XMLElement) -> XMLElement) async {
            registry.updateGuest(record.uuid) { guest in
                guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { $0 = change($0) }
            }
            await driver.liveXMLChanged(record.uuid)
        }

        /// Changes the persistent definition (parsed again, so checked).
        func editConfig(_ record: DomainRecord, _ change: @escaping @Sendable (XMLElement) -> XMLElement) async throws(RemoteError) {
            try await DomainDocumentEdits.redefine(record, registry: registry, options: driver.options) { $0 = change($0) }
        }
    }

    /// libvirt's checks of a get call's flags and count; the impact.
    static func getImpact(_ handle: RemoteDomain, nparams: Int32, flags: UInt32, function: String, _ context: Context) throws(RemoteError) -> (DomainRecord, ModificationImpact) {
        try DomainProcedures.checkFlags(flags, allowed: live | config | stringOkay, function: function)
        try ModificationImpact.checkOneDefinition(flags, domain: .domain)
        guard nparams >= 0 else { throw RemoteError.invalidArgument("nparams in \(function) must not be negative", domain: .domain) }
        let record = try context.registry.record(for: handle)
        return (record, try ModificationImpact(flags: flags & (live | config), record: record))
    }

    /// The parameters a client gets: the first `nparams`, strings only when it takes them.
    static func given(_ parameters: [TypedParameter], nparams: Int32, flags: UInt32) -> [TypedParameter] {
        Array(parameters.forClient(flags: flags).prefix(Int(nparams)))
    }

    /// Checks a set call's parameters against what it takes.
    static func validate(_ parameters: [TypedParameter], _ schema: [String: TypedParameter.Kind]) throws(RemoteError) {
        do throws(TypedParameterProblem) {
            try parameters.validate(against: schema)
        } catch {
            throw RemoteError(code: error.isUnsupported ? .argumentUnsupported : .invalidArgument, domain: .none, detail: error.message)
        }
    }
}

import CorralJSON
import CorralProtocol
import DomainXML
import QMP
import XDR
import XMLTree

/// `iothreadadd`, `iothreaddel` and `iothreadset`: I/O threads added to and removed from a
/// running guest (QEMU's `iothread` objects, `object-add`/`object-del`) and its persistent
/// definition, and a running thread's polling tuned (`qom-set`), as libvirt's
/// `qemuDomainChgIOThread` does. Each change runs in the domain's job; the persistent
/// definition is checked first and written last, after the live change worked.
enum IOThreadChanges {
    static let live = ModificationImpact.liveFlag, config = ModificationImpact.configFlag

    /// What a change does to one I/O thread.
    enum Action: Sendable {
        case add
        case delete
        /// `iothreadset`: QEMU's polling properties (`poll-max-ns`, `poll-grow`, `poll-shrink`)
        /// and the worker pool's sizes.
        case tune(IOThreadTuning)
    }

    /// What `iothreadset` changes on one I/O thread.
    struct IOThreadTuning: Sendable {
        var polling: [(property: PollingProperty, value: UInt64)] = []
        /// `thread_pool_min`/`thread_pool_max` when given (-1: QEMU's default).
        var poolMinimum: Int32?
        var poolMaximum: Int32?
        var changesPool: Bool { poolMinimum != nil || poolMaximum != nil }
    }

    /// The polling properties of QEMU's `iothread` objects `iothreadset` changes, by the name of
    /// libvirt's parameter.
    enum PollingProperty: String, Sendable {
        case maximumNanoseconds = "poll-max-ns", grow = "poll-grow", shrink = "poll-shrink"

        init?(parameter: String) {
            switch parameter {
            case "poll_max_ns": self = .maximumNanoseconds
            case "poll_grow": self = .grow
            case "poll_shrink": self = .shrink
            default: return nil
            }
        }
    }

    /// The parameters `iothreadset` takes (libvirt's `VIR_DOMAIN_IOTHREAD_*`), by type.
    static let parameterKinds: [String: TypedParameter.Kind] = [
        "poll_max_ns": .unsignedLongLong, "poll_grow": .uint, "poll_shrink": .uint, "thread_pool_min": .int, "thread_pool_max": .int,
    ]

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, driver: DomainDriver) {
        table.registerAsync(Remote.DomainAddIothread.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config, function: "qemuDomainAddIOThread")
            let id = try checkedID(arguments.iothreadID)
            try await change(arguments.dom, id: id, .add, flags: arguments.flags, registry: registry, driver: driver)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainDelIothread.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config, function: "qemuDomainDelIOThread")
            let id = try checkedID(arguments.iothreadID)
            try await change(arguments.dom, id: id, .delete, flags: arguments.flags, registry: registry, driver: driver)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSetIothreadParams.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config, function: "qemuDomainSetIOThreadParams")
            let id = try checkedID(arguments.iothreadID)
            let tuning = try tuning(arguments.params)
            try await change(arguments.dom, id: id, .tune(tuning), flags: arguments.flags, registry: registry, driver: driver)
            return XDRVoid()
        }
    }

    /// The id a client gave, checked as libvirt does (0 is no I/O thread), and within the ids
    /// a definition may hold.
    static func checkedID(_ id: UInt32) throws(RemoteError) -> Int {
        guard id != 0 else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "invalid value of 0 for iothread_id") }
        guard id <= UInt32(DomainLimits.maximumIOThreads) else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "iothread_id \(id) is larger than the most I/O thread ids Corral allows (\(DomainLimits.maximumIOThreads))")
        }
        return Int(id)
    }

    /// `iothreadset`'s parameters, with libvirt's checks (`qemuDomainIOThreadParseParams`).
    static func tuning(_ parameters: [TypedParameter]) throws(RemoteError) -> IOThreadTuning {
        try TunableProcedures.validate(parameters, parameterKinds)
        var tuning = IOThreadTuning()
        for parameter in parameters {
            if case .int(let size) = parameter.value {
                if parameter.field == "thread_pool_min" {
                    guard size >= -1 else {
                        throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "thread_pool_min (\(size)) must be equal to or greater than -1")
                    }
                    tuning.poolMinimum = size
                } else {
                    guard size >= -1, size != 0 else {
                        throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "thread_pool_max (\(size)) must be a positive number or -1")
                    }
                    tuning.poolMaximum = size
                }
                continue
            }
            guard let property = PollingProperty(parameter: parameter.field) else { continue }
            let value = parameter.value.unsignedValue ?? 0
            guard value <= UInt64(Int32.max) else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "\(property.rawValue) (\(value)) must be less than or equal to \(Int32.max)")
            }
            tuning.polling.removeAll { $0.property == property }
            tuning.polling.append((property, value))
        }
        return tuning
    }

    static func change(
        _ handle: RemoteDomain, id: Int, _ action: Action, flags: UInt32, registry: DomainRegistry, driver: DomainDriver
    ) async throws(RemoteError) {
        let name = try registry.record(for: handle).name
        try await driver.jobs.run(name, "remoteDispatchDomainChgIOThread") { () async throws(RemoteError) in
            let record = try registry.record(for: handle)
            let impact = try ModificationImpact(flags: flags, record: record)
            // The persistent definition is checked before anything changes.
            var persistent: XMLElement?
            if impact.config {
                var document = try parsedDocument(record.xml, options: driver.options)
                try apply(action, id: id, to: &document, live: false)
                persistent = document
            }
            if impact.live, let guest = record.runtime {
                var document = try driver.liveDocument(guest).document
                try apply(action, id: id, to: &document, live: true)
                try await changeQEMU(guest, id: id, action)
                if case .tune(let tuning) = action {
                    if tuning.changesPool {
                        registry.updateGuest(record.uuid) { guest in
                            guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { live in
                                IOThreadDocument.setPool(&live, id: id, minimum: tuning.poolMinimum, maximum: tuning.poolMaximum)
                            }
                        }
                        await driver.liveXMLChanged(record.uuid)
                    }
                } else {
                    registry.updateGuest(record.uuid) { guest in
                        guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { live in
                            if case .add = action { IOThreadDocument.add(&live, id: id) } else { IOThreadDocument.remove(&live, id: id) }
                        }
                    }
                    await driver.liveXMLChanged(record.uuid)
                    if case .add = action, let definition = try? driver.liveDocument(guest).definition, let cpus = definition.vcpuCPUSet,
                        let thread = try? await GuestStatistics.ioThreads(guest)[id]
                    {
                        // A new thread runs where the guest's threads without a pin of their own run.
                        try ThreadPinning.pin(thread: thread, to: cpus)
                    }
                }
            }
            if let persistent {
                try await DomainDocumentEdits.redefine(record, registry: registry, options: driver.options) { document in document = persistent }
            }
        }
    }

    /// Checks `action` against `document` (libvirt's messages) and makes it there.
    static func apply(_ action: Action, id: Int, to document: inout XMLElement, live: Bool) throws(RemoteError) {
        let ids = IOThreadDocument.ids(document)
        switch action {
        case .add:
            guard !ids.contains(id) else {
                throw RemoteError(code: .invalidArgument, domain: .domain, detail: "an IOThread is already using iothread_id '\(id)'")
            }
            IOThreadDocument.add(&document, id: id)
        case .delete:
            guard ids.contains(id) else {
                throw RemoteError(code: .invalidArgument, domain: .domain, detail: "cannot find IOThread '\(id)' in iothreadids list")
            }
            if let user = IOThreadDocument.user(of: id, in: document) { throw RemoteError(code: .invalidArgument, domain: .domain, detail: user) }
            IOThreadDocument.remove(&document, id: id)
        case .tune(let tuning):
            guard ids.contains(id) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "cannot find IOThread '\(id)' in iothreadids")
            }
            // libvirt's qemuDomainIOThreadValidate: QEMU has no way back to its default live,
            // and the minimum may not end above the maximum (-1 when unset).
            let current = IOThreadDocument.pool(of: id, in: document)
            for (name, value) in [("thread_pool_min", tuning.poolMinimum), ("thread_pool_max", tuning.poolMaximum)] {
                if live, let value, value < 0 {
                    throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "\(name) (\(value)) must be equal to or greater than 0 for live change")
                }
            }
            let minimum = tuning.poolMinimum ?? current.minimum ?? -1, maximum = tuning.poolMaximum ?? current.maximum ?? -1
            guard minimum <= maximum else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "thread_pool_min (\(minimum)) can't be greater than thread_pool_max (\(maximum))")
            }
            guard live || tuning.polling.isEmpty else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "configuring persistent polling values is not supported")
            }
            if tuning.changesPool { IOThreadDocument.setPool(&document, id: id, minimum: tuning.poolMinimum, maximum: tuning.poolMaximum) }
        }
    }

    /// The change on QEMU's side; an added thread that QEMU does not then list is taken back.
    static func changeQEMU(_ guest: GuestRuntime, id: Int, _ action: Action) async throws(RemoteError) {
        let object = "iothread\(id)"
        switch action {
        case .add:
            try await execute(guest, "object-add", .object([("qom-type", .string("iothread")), ("id", .string(object))]))
            guard (try? await GuestStatistics.ioThreads(guest)[id]) != nil else {
                try? await execute(guest, "object-del", .object([("id", .string(object))]))
                throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot find new IOThread '\(id)' in QEMU monitor.")
            }
        case .delete:
            try await execute(guest, "object-del", .object([("id", .string(object))]))
        case .tune(let tuning):
            let path = JSONValue.string("/objects/" + object)
            for (property, value) in tuning.polling {
                try await execute(guest, "qom-set", .object([("path", path), ("property", .string(property.rawValue)), ("value", .unsigned(value))]))
            }
            // The pool's minimum first, unless the maximum QEMU has now is below the new
            // minimum (QEMU refuses a minimum above the maximum), as libvirt orders them.
            var sizes: [(String, Int32)] = [("thread-pool-min", tuning.poolMinimum), ("thread-pool-max", tuning.poolMaximum)].compactMap { name, value in value.map { (name, $0) } }
            if let minimum = tuning.poolMinimum, tuning.poolMaximum != nil {
                let reply = try? await guest.qmp.execute("qom-get", arguments: .object([("path", path), ("property", .string("thread-pool-max"))]))
                if let current = reply?.intValue, current < Int64(minimum) { sizes.reverse() }
            }
            for (property, value) in sizes {
                try await execute(guest, "qom-set", .object([("path", path), ("property", .string(property)), ("value", .integer(Int64(value)))]))
            }
        }
    }

    /// Runs `command` on the daemon's monitor of `guest`, with libvirt's error.
    static func execute(_ guest: GuestRuntime, _ command: String, _ arguments: JSONValue) async throws(RemoteError) {
        do throws(QMPError) {
            _ = try await guest.qmp.execute(command, arguments: arguments)
        } catch {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command '\(command)': \(error.message)")
        }
    }

    static func parsedDocument(_ xml: String, options: DomainXMLOptions) throws(RemoteError) -> XMLElement {
        do throws(DomainXMLError) {
            return try DomainXMLParser.parse(xml, options: options).document
        } catch {
            throw RemoteError(domainXMLError: error)
        }
    }
}

import CorralProtocol
import DomainXML
import XDR
import XMLTree

/// `virsh domrename`: a shut-off persistent domain takes a new name (its definition is stored
/// under it, the old one removed), with libvirt's checks and its two lifecycle events.
enum RenameProcedure {
    static func register(in table: inout ProcedureTable, registry: DomainRegistry, driver: DomainDriver, events: EventHub) {
        table.registerAsync(Remote.DomainRename.self) { arguments, call throws(RemoteError) in
            guard let newName = arguments.newName else { throw RemoteError.invalidArgument("new_name in virDomainRename must not be NULL", domain: .domain) }
            guard !newName.isEmpty else { throw RemoteError.invalidArgument("string new_name in virDomainRename must not be empty", domain: .domain) }
            if call.isReadOnly { throw RemoteError.readOnly(api: "virDomainRename") }
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainRename")
            let name = try registry.record(for: arguments.dom).name
            let handles = try await driver.jobs.run(name, "rename") { () async throws(RemoteError) -> (old: RemoteDomain, new: RemoteDomain) in
                let record = try registry.record(for: arguments.dom)
                guard !record.isActive else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot rename active domain") }
                guard record.persistent else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot rename a transient domain") }
                guard !record.hasManagedSave else {
                    throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain with a managed saved state can't be renamed")
                }
                guard record.snapshots.isEmpty else {
                    throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot rename domain with snapshots")
                }
                guard newName != record.name else { throw RemoteError(code: .operationInvalid, domain: .domain, detail: "Can't rename domain to itself") }
                if newName.contains("/") { throw RemoteError(code: .xmlError, domain: .qemu, detail: "name \(newName) cannot contain '/'") }
                let options = driver.options
                let parsed = try await BlockingWork.run { () throws(RemoteError) -> ParsedDomain in
                    do throws(DomainXMLError) {
                        var document = try DomainXMLParser.parse(record.xml, options: options).document
                        document.updateElements { if $0.name == "name" && $0.namespace == nil { $0.setText(newName) } }
                        return try DomainXMLParser.parse(document, options: options)
                    } catch {
                        throw RemoteError(domainXMLError: error)
                    }
                }
                return try await BlockingWork.run { () throws(RemoteError) in try registry.rename(record.uuid, to: parsed) }
            }
            events.lifecycle(handles.old, .renamed(isNewName: false))
            events.lifecycle(handles.new, .renamed(isNewName: true))
            return .init(retcode: 0)
        }
    }
}

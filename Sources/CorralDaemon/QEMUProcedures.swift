import CorralProtocol
import NIOCore
import QMP
import XDR

/// Handlers of the QEMU program (libvirt-qemu): monitor passthrough.
enum QEMUProcedures {
    static func register(in table: inout ProcedureTable, driver: DomainDriver, registry: DomainRegistry, events: EventHub) {
        table.register(Qemu.ConnectDomainMonitorEventRegister.self) { arguments, context throws(RemoteError) in
            guard let channel = context.channel else { throw RemoteError.internalError("no connection for events") }
            if let dom = arguments.dom { _ = try registry.record(for: dom) }
            return .init(callbackID: try events.registerMonitor(
                connectionID: context.connectionID, channel: channel, domain: arguments.dom?.uuid, event: arguments.event, flags: arguments.flags))
        }
        table.register(Qemu.ConnectDomainMonitorEventDeregister.self) { arguments, context throws(RemoteError) in
            try events.deregisterMonitor(connectionID: context.connectionID, callbackID: arguments.callbackID)
            return XDRVoid()
        }
        table.registerDeferred(Qemu.DomainMonitorCommand.self) { arguments, context, eventLoop in
            let uuid: RemoteUUID
            let monitor: Int
            let open: QMPClient?
            do throws(RemoteError) {
                // VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP = 1
                try DomainProcedures.checkFlags(arguments.flags, allowed: 1, function: "qemuDomainQemuMonitorCommand")
                (uuid, monitor, open) = try registry.passthroughTarget(for: arguments.dom, connectionID: context.connectionID)
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
            let hmp = arguments.flags & 1 != 0
            // The fast path: the guest's passthrough session is open (so the guest runs and is
            // tainted). Otherwise the driver opens it.
            if let session = open {
                return driver.passthrough.run(arguments.cmd, hmp: hmp, on: session).map { .init(result: $0) }
            }
            return eventLoop.makeFutureWithTask { () async throws -> Qemu.DomainMonitorCommand.Reply in
                .init(result: try await driver.monitorCommand(uuid, command: arguments.cmd, hmp: hmp, monitor: monitor, eventLoop: eventLoop))
            }
        }
        // The same call with file descriptors. Corral's server does not receive descriptors
        // (feature FD_PASSING is answered false, so libvirt's client refuses `--pass-fds` before
        // sending); without descriptors the call is DOMAIN_MONITOR_COMMAND.
        table.registerAsync(Qemu.DomainMonitorCommandWithFiles.self) { arguments, context throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1, function: "qemuDomainQemuMonitorCommandWithFiles")
            let (uuid, monitor, _) = try registry.passthroughTarget(for: arguments.dom, connectionID: context.connectionID)
            let result = try await driver.monitorCommand(uuid, command: arguments.cmd, hmp: arguments.flags & 1 != 0, monitor: monitor)
            return .init(result: result)
        }
        table.registerAsync(Qemu.DomainAgentCommand.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainQemuAgentCommand")
            let record = try registry.record(for: arguments.dom)
            return .init(result: try await driver.agentCommand(record.uuid, command: arguments.cmd, timeout: arguments.timeout))
        }
        // Removed from libvirt's QEMU driver in 5.5.0: its slot is empty, so libvirtd answers
        // NO_SUPPORT, and so does Corral (attaching to a QEMU started elsewhere is not managed).
        table.register(Qemu.DomainAttach.self) { _, _ throws(RemoteError) in
            throw RemoteError(code: .noSupport, domain: .domain, detail: "virDomainQemuAttach")
        }
    }
}

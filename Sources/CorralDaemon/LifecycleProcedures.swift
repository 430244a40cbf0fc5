import CorralProtocol
import DomainXML
import QEMUCommandLine
import XDR
import Foundation
import QEMUProbe

/// Handlers that start, stop and control guests, convert XML to a command line, and register
/// for lifecycle events.
enum LifecycleProcedures {
    static func register(in table: inout ProcedureTable, driver: DomainDriver, registry: DomainRegistry, events: EventHub, options: DomainXMLOptions) {
        // MARK: Start
        table.registerAsync(Remote.DomainCreate.self) { arguments, context throws(RemoteError) in
            _ = try await driver.start(try registry.record(for: arguments.dom).uuid, paused: false, autodestroyConnection: nil)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainCreateWithFlags.self) { arguments, context throws(RemoteError) in
            // paused = 1, autodestroy = 2, bypass-cache = 4, force-boot = 8, reset-nvram = 32
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2 | 4 | 8 | 32, function: "qemuDomainCreateWithFlags")
            let uuid = try registry.record(for: arguments.dom).uuid
            let handle = try await driver.start(uuid, paused: arguments.flags & 1 != 0, autodestroyConnection: arguments.flags & 2 != 0 ? context.connectionID : nil)
            return .init(dom: handle)
        }
        table.registerAsync(Remote.DomainCreateXML.self) { arguments, context throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2 | 4 | 16, function: "qemuDomainCreateXML")
            let handle = try await driver.createTransient(
                xml: arguments.xmlDesc, paused: arguments.flags & 1 != 0, autodestroyConnection: arguments.flags & 2 != 0 ? context.connectionID : nil)
            return .init(dom: handle)
        }

        // MARK: Stop and control
        table.registerAsync(Remote.DomainDestroy.self) { arguments, _ throws(RemoteError) in
            try await driver.destroy(try registry.record(for: arguments.dom).uuid, graceful: false)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainDestroyFlags.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2, function: "qemuDomainDestroyFlags")
            try await driver.destroy(try registry.record(for: arguments.dom).uuid, graceful: arguments.flags & 1 != 0)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainShutdown.self) { arguments, _ throws(RemoteError) in
            try await driver.shutdown(try registry.record(for: arguments.dom).uuid)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainShutdownFlags.self) { arguments, _ throws(RemoteError) in
            try checkMode(arguments.flags, "shutdown")
            try await driver.shutdown(try registry.record(for: arguments.dom).uuid)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainReboot.self) { arguments, _ throws(RemoteError) in
            try checkMode(arguments.flags, "reboot")
            try await driver.reboot(try registry.record(for: arguments.dom).uuid)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainReset.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainReset")
            try await driver.reset(try registry.record(for: arguments.dom).uuid)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSuspend.self) { arguments, _ throws(RemoteError) in
            try await driver.suspend(try registry.record(for: arguments.dom).uuid)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainResume.self) { arguments, _ throws(RemoteError) in
            try await driver.resume(try registry.record(for: arguments.dom).uuid)
            return XDRVoid()
        }
        table.register(Remote.DomainGetMaxVcpus.self) { arguments, _ throws(RemoteError) in
            let record = try registry.record(for: arguments.dom)
            guard record.isActive else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
            return .init(num: Int32(record.definition.vcpus))
        }

        // MARK: domxml-to-native
        table.register(Remote.ConnectDomainXMLToNative.self) { arguments, _ throws(RemoteError) in
            guard arguments.nativeFormat == "qemu-argv" else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unsupported config type \(arguments.nativeFormat)")
            }
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuConnectDomainXMLToNative")
            let parsed: ParsedDomain
            do throws(DomainXMLError) {
                parsed = try DomainXMLParser.parse(arguments.domainXml, options: options)
            } catch {
                throw RemoteError(domainXMLError: error)
            }
            let context = driver.previewContext(definition: parsed.definition)
            do throws(CommandLineError) {
                return .init(nativeConfig: try QEMUCommandLineBuilder.build(parsed.definition, context: context).shellCommandLine)
            } catch {
                throw RemoteError(code: error.kind == .unsupported ? .configUnsupported : .internalError, domain: .qemu, detail: error.message)
            }
        }

        // MARK: Events
        table.register(Remote.ConnectDomainEventCallbackRegisterAny.self) { arguments, context throws(RemoteError) in
            guard let channel = context.channel else { throw RemoteError.internalError("no connection for events") }
            if let dom = arguments.dom { _ = try registry.record(for: dom) }
            return .init(callbackID: try events.register(connectionID: context.connectionID, channel: channel, eventID: arguments.eventID, domain: arguments.dom?.uuid))
        }
        table.register(Remote.ConnectDomainEventCallbackDeregisterAny.self) { arguments, context throws(RemoteError) in
            try events.deregister(connectionID: context.connectionID, callbackID: arguments.callbackID)
            return XDRVoid()
        }
    }

    /// Shutdown and reboot modes: ACPI (1) or the default; the agent, initctl, signal and
    /// paravirt modes are not available.
    static func checkMode(_ flags: UInt32, _ what: String) throws(RemoteError) {
        guard flags & ~UInt32(1) == 0 else {
            throw RemoteError(code: .argumentUnsupported, domain: .qemu, detail: "only the ACPI \(what) mode is supported by Corral")
        }
    }
}

extension DomainDriver {
    /// The context `domxml-to-native` uses: as if the domain started now with id -1.
    nonisolated func previewContext(definition: DomainDefinition) -> CommandLineContext {
        CommandLineContext(
            emulator: emulator.path, emulatorVersion: emulator.version, kvmUsable: emulator.kvmUsable, id: -1,
            runDirectory: configuration.runDirectory + "/domains/" + definition.name, vncDisplay: 0, privileged: getuid() == 0,
            passthroughEnvironment: ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    }
}

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
        // MARK: Start, stop and control: each in the domain's job.
        @Sendable func inJob<T: Sendable>(_ handle: RemoteDomain, _ operation: String, _ body: @escaping @Sendable (RemoteUUID) async throws(RemoteError) -> T) async throws(RemoteError) -> T {
            let record = try registry.record(for: handle)
            return try await driver.jobs.run(record.name, operation) { () async throws(RemoteError) -> T in
                // The domain may have changed while this waited: look it up again.
                try await body(try registry.record(for: handle).uuid)
            }
        }
        table.registerAsync(Remote.DomainCreate.self) { arguments, context throws(RemoteError) in
            _ = try await inJob(arguments.dom, "remoteDispatchDomainCreate") { uuid throws(RemoteError) in
                try await driver.startDefined(uuid, paused: false, autodestroyConnection: nil)
            }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainCreateWithFlags.self) { arguments, context throws(RemoteError) in
            // paused = 1, autodestroy = 2, bypass-cache = 4, force-boot = 8, reset-nvram = 32
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2 | 4 | 8 | 32, function: "qemuDomainCreateWithFlags")
            let autodestroy = arguments.flags & 2 != 0 ? context.connectionID : nil
            let handle = try await inJob(arguments.dom, "remoteDispatchDomainCreateWithFlags") { uuid throws(RemoteError) in
                try await driver.startDefined(
                    uuid, paused: arguments.flags & 1 != 0, autodestroyConnection: autodestroy, forceBoot: arguments.flags & 8 != 0, resetNVRAM: arguments.flags & 32 != 0)
            }
            return .init(dom: handle)
        }
        table.registerAsync(Remote.DomainCreateXML.self) { arguments, context throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2 | 4 | 16, function: "qemuDomainCreateXML")
            let parsed = try await BlockingWork.run { () throws(RemoteError) -> ParsedDomain in
                do throws(DomainXMLError) {
                    return try DomainXMLParser.parse(arguments.xmlDesc, options: options)
                } catch {
                    throw RemoteError(domainXMLError: error)
                }
            }
            let autodestroy = arguments.flags & 2 != 0 ? context.connectionID : nil
            let handle = try await driver.jobs.run(parsed.definition.name, "remoteDispatchDomainCreateXML") { () async throws(RemoteError) -> RemoteDomain in
                try await driver.createTransient(parsed, paused: arguments.flags & 1 != 0, autodestroyConnection: autodestroy)
            }
            return .init(dom: handle)
        }

        table.registerAsync(Remote.DomainDestroy.self) { arguments, _ throws(RemoteError) in
            try await inJob(arguments.dom, "remoteDispatchDomainDestroy") { uuid throws(RemoteError) in try await driver.destroy(uuid, graceful: false) }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainDestroyFlags.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2, function: "qemuDomainDestroyFlags")
            try await inJob(arguments.dom, "remoteDispatchDomainDestroyFlags") { uuid throws(RemoteError) in
                try await driver.destroy(uuid, graceful: arguments.flags & 1 != 0)
            }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainShutdown.self) { arguments, _ throws(RemoteError) in
            try await inJob(arguments.dom, "remoteDispatchDomainShutdown") { uuid throws(RemoteError) in try await driver.shutdown(uuid) }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainShutdownFlags.self) { arguments, _ throws(RemoteError) in
            try checkMode(arguments.flags, "shutdown")
            try await inJob(arguments.dom, "remoteDispatchDomainShutdownFlags") { uuid throws(RemoteError) in try await driver.shutdown(uuid) }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainReboot.self) { arguments, _ throws(RemoteError) in
            try checkMode(arguments.flags, "reboot")
            try await inJob(arguments.dom, "remoteDispatchDomainReboot") { uuid throws(RemoteError) in try await driver.reboot(uuid) }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainReset.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainReset")
            try await inJob(arguments.dom, "remoteDispatchDomainReset") { uuid throws(RemoteError) in try await driver.reset(uuid) }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSuspend.self) { arguments, _ throws(RemoteError) in
            // An outgoing migration lets a suspend through its job (libvirt's async-job mask),
            // so `virsh migrate --timeout` can pause a guest whose migration does not converge.
            let uuid = try registry.record(for: arguments.dom).uuid
            if driver.longJobs.running(uuid)?.operation == .migrationOut {
                try await driver.suspend(uuid, reason: .migration)
                return XDRVoid()
            }
            try await inJob(arguments.dom, "remoteDispatchDomainSuspend") { uuid throws(RemoteError) in try await driver.suspend(uuid) }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainResume.self) { arguments, _ throws(RemoteError) in
            try await inJob(arguments.dom, "remoteDispatchDomainResume") { uuid throws(RemoteError) in try await driver.resume(uuid) }
            return XDRVoid()
        }
        table.register(Remote.DomainGetMaxVcpus.self) { arguments, _ throws(RemoteError) in
            let record = try registry.record(for: arguments.dom)
            guard record.isActive else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
            return .init(num: Int32(record.runtime?.vcpuMaximum ?? record.definition.vcpus))
        }

        // MARK: domxml-to-native
        table.registerAsync(Remote.ConnectDomainXMLToNative.self) { arguments, _ throws(RemoteError) in
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
            let definition = try await BlockingWork.run { () throws(RemoteError) -> DomainDefinition in
                try driver.resolveFirmware(parsed.definition, resetNVRAM: false, writesFiles: false)
            }
            var context = driver.previewContext(definition: definition)
            context.diskSecrets = try driver.diskSecrets(definition)
            if !definition.memoryBacking.hugePages.isEmpty { context.hugePages = try await BlockingWork.run { HostHugePages.read() } }
            do throws(CommandLineError) {
                return .init(nativeConfig: try QEMUCommandLineBuilder.build(definition, context: context).shellCommandLine)
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
        var context = CommandLineContext(
            emulator: emulator.path, capabilities: emulator.qemuCapabilities, kvmUsable: emulator.kvmUsable, id: -1,
            runDirectory: configuration.runDirectory + "/domains/" + definition.name, vncDisplay: 0, privileged: getuid() == 0,
            passthroughEnvironment: ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
        context.characterDeviceTLS = configuration.characterDeviceTLS
        context.networkDiskTLS = configuration.networkDiskTLS
        return context
    }
}

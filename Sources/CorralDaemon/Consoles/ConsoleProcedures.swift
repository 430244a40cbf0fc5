import CorralProtocol
import DomainXML
import NIOCore
import NIOPosix
import QEMUCommandLine
import XDR

/// `DOMAIN_OPEN_CONSOLE` and `DOMAIN_OPEN_CHANNEL`: streams to a running guest's serial
/// console and channels, one client per device at a time.
enum ConsoleProcedures {
    /// `VIR_DOMAIN_CONSOLE_FORCE` (and `VIR_DOMAIN_CHANNEL_FORCE`).
    static let forceFlag: UInt32 = 1
    /// `VIR_DOMAIN_CONSOLE_SAFE`: Corral always keeps one client per console.
    static let safeFlag: UInt32 = 2

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, sessions: ConsoleSessions) {
        table.registerStream(Remote.DomainOpenConsole.self) { arguments, context throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: forceFlag | safeFlag, function: "qemuDomainOpenConsole")
            let device = try console(named: arguments.devName, in: try runningDevices(arguments.dom, registry: registry))
            return (XDRVoid(), try await open(device, flags: arguments.flags, busyMessage: "Active console session exists for this domain", sessions: sessions, context: context))
        }
        table.registerStream(Remote.DomainOpenChannel.self) { arguments, context throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: forceFlag, function: "qemuDomainOpenChannel")
            let device = try channel(named: arguments.name, in: try runningDevices(arguments.dom, registry: registry))
            return (XDRVoid(), try await open(device, flags: arguments.flags, busyMessage: "Active channel stream exists for this domain", sessions: sessions, context: context))
        }
    }

    static func runningDevices(_ handle: RemoteDomain, registry: DomainRegistry) throws(RemoteError) -> GuestDevices {
        let record = try registry.record(for: handle)
        guard let guest = record.runtime else {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
        }
        return guest.devices
    }

    /// libvirt's choice: the console or serial port with that alias; without a name, the first
    /// console, else the first serial port. Consoles work on `pty` devices and, beyond libvirt,
    /// on `unix` ones; other types (a `file` is history, not a terminal) are refused.
    static func console(named name: String?, in devices: GuestDevices) throws(RemoteError) -> GuestDevices.CharacterDevice {
        let consoles = devices.characterDevices.filter { $0.role == .console }
        let serials = devices.characterDevices.filter { $0.role == .serial }
        let found: GuestDevices.CharacterDevice?
        if let name {
            found = consoles.first { $0.alias == name } ?? serials.first { $0.alias == name }
        } else {
            found = consoles.first ?? serials.first
        }
        guard let found else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot find character device \(name ?? "<null>")")
        }
        guard found.type == .pty || found.type == .unix else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "character device \(name ?? found.alias) is not using a PTY")
        }
        return found
    }

    /// libvirt's choice: the channel with that alias or virtio target name; without a name, the
    /// first channel. Only `unix` channels can be opened.
    static func channel(named name: String?, in devices: GuestDevices) throws(RemoteError) -> GuestDevices.CharacterDevice {
        let channels = devices.characterDevices.filter { $0.role == .channel }
        let found = name.map { name in channels.first { $0.alias == name || $0.targetName == name } } ?? channels.first
        guard let found else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot find channel \(name ?? "<null>")")
        }
        guard found.type == .unix else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "channel \(name ?? found.alias) is not using a UNIX socket")
        }
        return found
    }

    /// Opens `device` for a stream on the calling connection's event loop; `flags`' force bit
    /// takes it from another client.
    static func open(
        _ device: GuestDevices.CharacterDevice, flags: UInt32, busyMessage: String, sessions: ConsoleSessions, context: CallContext
    ) async throws(RemoteError) -> ConsoleStream {
        guard let path = device.path else {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "PTY device is not yet assigned")
        }
        let claim = try sessions.claim(path, force: flags & forceFlag != 0, busyMessage: busyMessage)
        let group: any EventLoopGroup = context.channel?.eventLoop ?? MultiThreadedEventLoopGroup.singleton
        let connection: CharacterDeviceConnection
        do throws(RemoteError) {
            connection = device.type == .pty
                ? try await CharacterDeviceConnection.openPseudoTerminal(path, group: group)
                : try await CharacterDeviceConnection.connectUnixSocket(path, group: group)
        } catch {
            sessions.release(claim)
            throw error
        }
        guard sessions.attach(connection, to: claim) else {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: busyMessage)
        }
        return ConsoleStream(connection: connection) { sessions.release(claim) }
    }
}

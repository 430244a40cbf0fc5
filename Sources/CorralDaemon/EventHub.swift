import CorralProtocol
import NIOCore
import Synchronization
import XDR

/// libvirt's lifecycle event and detail numbers (`virDomainEventType` and its details).
public enum LifecycleEvent: Sendable, Hashable {
    case defined(added: Bool)
    /// The definition was replaced by a snapshot's (a revert; `DEFINED_FROM_SNAPSHOT`).
    case definedFromSnapshot
    case undefined
    /// A rename: the old name is undefined (`renamed`), the new one defined (`renamed`).
    case renamed(isNewName: Bool)
    case started(StartedDetail = .booted)
    case suspended(ioError: Bool = false)
    /// Suspended because a watchdog fired with action `pause` (`SUSPENDED_WATCHDOG`).
    case suspendedWatchdog
    /// Suspended after a restore that leaves the guest paused (`SUSPENDED_RESTORED`).
    case suspendedAfterRestore
    /// Suspended after a revert to a snapshot that leaves the guest paused (`SUSPENDED_FROM_SNAPSHOT`).
    case suspendedFromSnapshot
    case resumed
    /// Suspended at the end of an outgoing migration (`SUSPENDED_MIGRATED`).
    case suspendedMigrated
    /// Resumed once a migration ended: on the destination, or on the source after a cancel
    /// (`RESUMED_MIGRATED`).
    case resumedMigrated
    /// The source's vCPUs stopped for good as a migration switched to post-copy
    /// (`SUSPENDED_POSTCOPY`).
    case suspendedPostcopy
    /// The destination's vCPUs run while the rest of the memory arrives (`RESUMED_POSTCOPY`).
    case resumedPostcopy
    /// A post-copy migration failed after the switch: the guest cannot run on either host alone
    /// (`SUSPENDED_POSTCOPY_FAILED`).
    case suspendedPostcopyFailed
    /// The same, on a destination whose vCPUs already ran (`RESUMED_POSTCOPY_FAILED`).
    case resumedPostcopyFailed
    case stopped(StoppedDetail)
    case shutdown(ShutdownDetail)

    public enum StartedDetail: Int32, Sendable { case booted = 0, migrated = 1, restored = 2, fromSnapshot = 3, wakeup = 4 }
    public enum StoppedDetail: Int32, Sendable { case shutdown = 0, destroyed = 1, crashed = 2, migrated = 3, saved = 4, failed = 5, fromSnapshot = 6 }
    public enum ShutdownDetail: Int32, Sendable { case finished = 0, guest = 1, host = 2 }

    /// (event, detail) as the wire carries them.
    var numbers: (Int32, Int32) {
        switch self {
        case .defined(let added): return (0, added ? 0 : 1)
        case .definedFromSnapshot: return (0, 3)
        case .undefined: return (1, 0)
        case .renamed(let isNewName): return isNewName ? (0, 2) : (1, 1)
        case .started(let detail): return (2, detail.rawValue)
        case .suspended(let io): return (3, io ? 2 : 0)
        case .suspendedWatchdog: return (3, 3)
        case .suspendedAfterRestore: return (3, 4)
        case .suspendedFromSnapshot: return (3, 5)
        case .resumed: return (4, 0)
        case .suspendedMigrated: return (3, 1)
        case .resumedMigrated: return (4, 1)
        case .suspendedPostcopy: return (3, 7)
        case .resumedPostcopy: return (4, 3)
        case .suspendedPostcopyFailed: return (3, 8)
        case .resumedPostcopyFailed: return (4, 4)
        case .stopped(let detail): return (5, detail.rawValue)
        case .shutdown(let detail): return (6, detail.rawValue)
        }
    }
}

/// Event registrations of every connection, and delivery of events to them.
///
/// A registration belongs to one connection and carries the callback id the server returned; the
/// event message goes only to that connection, with that id (libvirt's rule).
final class EventHub: Sendable {
    /// Event ids Corral delivers.
    static let lifecycle: Int32 = 0, reboot: Int32 = 1, rtcChange: Int32 = 2, watchdog: Int32 = 3, ioError: Int32 = 4, graphics: Int32 = 5, ioErrorReason: Int32 = 6, diskChange: Int32 = 9, trayChange: Int32 = 10, balloonChange: Int32 = 13, deviceRemoved: Int32 = 15
    static let tunable: Int32 = 17, agentLifecycle: Int32 = 18, deviceAdded: Int32 = 19, migrationIteration: Int32 = 20, jobCompleted: Int32 = 21, deviceRemovalFailed: Int32 = 22
    static let metadataChange: Int32 = 23
    /// `VIR_DOMAIN_EVENT_ID_LAST` in libvirt 9.x.
    static let eventIDLimit: Int32 = 27

    /// A QEMU monitor event registration (`virConnectDomainQemuMonitorEventRegister`).
    struct MonitorRegistration {
        var connectionID: UInt64
        var callbackID: Int32
        var domain: RemoteUUID?
        var event: String?
        /// The pattern, when the event name is a regular expression (compiled at registration, so
        /// known to be valid).
        var pattern: String?
        var caseInsensitive: Bool
        var channel: any Channel

        func matches(_ name: String) -> Bool {
            guard let event else { return true }
            if let pattern, let regex = try? Regex(pattern) { return (try? regex.firstMatch(in: name)) != nil }
            return caseInsensitive ? event.lowercased() == name.lowercased() : event == name
        }
    }

    private let registrations = CallbackRegistrations()
    private let monitor = Mutex<(next: Int32, registrations: [MonitorRegistration])>((1, []))

    func registerMonitor(connectionID: UInt64, channel: any Channel, domain: RemoteUUID?, event: String?, flags: UInt32) throws(RemoteError) -> Int32 {
        guard flags & ~UInt32(3) == 0 else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unsupported flags (0x\(String(flags & ~3, radix: 16))) in function qemuConnectDomainQemuMonitorEventRegister")
        }
        var pattern: String?
        if let event, flags & 1 != 0 {
            do {
                pattern = flags & 2 != 0 ? "(?i)" + event : event
                _ = try Regex(pattern!)
            } catch {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "failed to compile regex '\(event)': \(error)")
            }
        }
        let registration = MonitorRegistration(connectionID: connectionID, callbackID: 0, domain: domain, event: event, pattern: pattern, caseInsensitive: flags & 2 != 0, channel: channel)
        return monitor.withLock { state in
            var r = registration
            r.callbackID = state.next
            state.next = state.next == Int32.max ? 1 : state.next + 1
            state.registrations.append(r)
            return r.callbackID
        }
    }

    func deregisterMonitor(connectionID: UInt64, callbackID: Int32) throws(RemoteError) {
        let removed = monitor.withLock { state -> Bool in
            let before = state.registrations.count
            state.registrations.removeAll { $0.connectionID == connectionID && $0.callbackID == callbackID }
            return state.registrations.count != before
        }
        if !removed { throw RemoteError(code: .internalError, domain: .qemu, detail: "qemu monitor event callback \(callbackID) not registered") }
    }

    /// Whether any connection asked for monitor events (checked before an event is formatted).
    var hasMonitorRegistrations: Bool { monitor.withLock { !$0.registrations.isEmpty } }

    /// Delivers a QMP event to the monitor-event registrations that want it.
    func monitorEvent(_ domain: RemoteDomain, name: String, seconds: Int64, micros: UInt32, details: String?) {
        let targets = monitor.withLock { state in state.registrations.filter { ($0.domain == nil || $0.domain == domain.uuid) && $0.matches(name) } }
        for registration in targets {
            var buffer = registration.channel.allocator.buffer(capacity: 128)
            buffer.writeRPCPacket(header: RPCHeader(program: .qemu, procedure: Qemu.DomainMonitorEvent.procedure, type: .message, serial: 1)) {
                Qemu.DomainMonitorEvent.Arguments(callbackID: registration.callbackID, dom: domain, event: name, seconds: seconds, micros: micros, details: details).encode(into: &$0)
            }
            registration.channel.writeAndFlush(buffer, promise: nil)
        }
    }

    func register(connectionID: UInt64, channel: any Channel, eventID: Int32, domain: RemoteUUID?) throws(RemoteError) -> Int32 {
        guard eventID >= 0, eventID < Self.eventIDLimit else {
            throw RemoteError(code: .internalError, domain: .remote, detail: "unsupported event ID \(eventID)")
        }
        return registrations.register(connectionID: connectionID, channel: channel, eventID: eventID, object: domain)
    }

    func deregister(connectionID: UInt64, callbackID: Int32) throws(RemoteError) {
        try registrations.deregister(connectionID: connectionID, callbackID: callbackID, kind: "domain")
    }

    func connectionClosed(_ connectionID: UInt64) {
        registrations.connectionClosed(connectionID)
        monitor.withLock { $0.registrations.removeAll { $0.connectionID == connectionID } }
    }

    private func targets(eventID: Int32, domain: RemoteUUID) -> [CallbackRegistrations.Registration] {
        registrations.targets(eventID: eventID, object: domain)
    }

    private func send(_ registrations: [CallbackRegistrations.Registration], procedure: Int32, _ write: @escaping @Sendable (Int32, inout ByteBuffer) -> Void) {
        for registration in registrations {
            var buffer = registration.channel.allocator.buffer(capacity: 96)
            // libvirtd sends event messages with serial 1.
            buffer.writeRPCPacket(header: RPCHeader(program: .remote, procedure: procedure, type: .message, serial: 1)) { write(registration.callbackID, &$0) }
            registration.channel.writeAndFlush(buffer, promise: nil)
        }
    }

    func lifecycle(_ domain: RemoteDomain, _ event: LifecycleEvent) {
        let (number, detail) = event.numbers
        send(targets(eventID: Self.lifecycle, domain: domain.uuid), procedure: Remote.DomainEventCallbackLifecycle.procedure) { id, out in
            Remote.DomainEventCallbackLifecycle.Arguments(callbackID: id, dom: domain, event: number, detail: detail).encode(into: &out)
        }
    }

    func reboot(_ domain: RemoteDomain) {
        send(targets(eventID: Self.reboot, domain: domain.uuid), procedure: Remote.DomainEventCallbackReboot.procedure) { id, out in
            Remote.DomainEventCallbackReboot.Arguments(callbackID: id, dom: domain).encode(into: &out)
        }
    }

    func deviceRemoved(_ domain: RemoteDomain, alias: String) {
        send(targets(eventID: Self.deviceRemoved, domain: domain.uuid), procedure: Remote.DomainEventCallbackDeviceRemoved.procedure) { id, out in
            Remote.DomainEventCallbackDeviceRemoved.Arguments(callbackID: id, dom: domain, devAlias: alias).encode(into: &out)
        }
    }

    /// Tunables changed (`cputune.vcpupin0`, `cputune.emulatorpin`, …), with their new values.
    func tunableChanged(_ domain: RemoteDomain, parameters: [TypedParameter]) {
        send(targets(eventID: Self.tunable, domain: domain.uuid), procedure: Remote.DomainEventCallbackTunable.procedure) { id, out in
            Remote.DomainEventCallbackTunable.Arguments(callbackID: id, dom: domain, params: parameters).encode(into: &out)
        }
    }

    /// An outgoing migration began its `iteration`th pass over the guest's memory (QEMU's
    /// `MIGRATION_PASS`).
    func migrationIteration(_ domain: RemoteDomain, iteration: Int32) {
        send(targets(eventID: Self.migrationIteration, domain: domain.uuid), procedure: Remote.DomainEventCallbackMigrationIteration.procedure) { id, out in
            Remote.DomainEventCallbackMigrationIteration.Arguments(callbackID: id, dom: domain, iteration: iteration).encode(into: &out)
        }
    }

    /// A long job (save, restore, dump) finished; `parameters` are its final statistics.
    func jobCompleted(_ domain: RemoteDomain, parameters: [TypedParameter]) {
        send(targets(eventID: Self.jobCompleted, domain: domain.uuid), procedure: Remote.DomainEventCallbackJobCompleted.procedure) { id, out in
            Remote.DomainEventCallbackJobCompleted.Arguments(callbackID: id, dom: domain, params: parameters).encode(into: &out)
        }
    }

    /// The guest agent connected (`connected`) or disconnected; `reason` 1: the domain
    /// started, 2: its channel changed.
    func agentLifecycle(_ domain: RemoteDomain, connected: Bool, reason: Int32) {
        send(targets(eventID: Self.agentLifecycle, domain: domain.uuid), procedure: Remote.DomainEventCallbackAgentLifecycle.procedure) { id, out in
            Remote.DomainEventCallbackAgentLifecycle.Arguments(callbackID: id, dom: domain, state: connected ? 1 : 2, reason: reason).encode(into: &out)
        }
    }

    /// A graphics client connected (phase 0), was authenticated (1) or disconnected (2).
    func graphics(_ domain: RemoteDomain, phase: Int32, local: GraphicsAddress, remote: GraphicsAddress, authScheme: String, subject: [GraphicsIdentity]) {
        send(targets(eventID: Self.graphics, domain: domain.uuid), procedure: Remote.DomainEventCallbackGraphics.procedure) { id, out in
            Remote.DomainEventCallbackGraphics.Arguments(
                callbackID: id, dom: domain, phase: phase, local: local, remote: remote, authScheme: authScheme, subject: subject
            ).encode(into: &out)
        }
    }

    /// A device was hot-plugged.
    func deviceAdded(_ domain: RemoteDomain, alias: String) {
        send(targets(eventID: Self.deviceAdded, domain: domain.uuid), procedure: Remote.DomainEventCallbackDeviceAdded.procedure) { id, out in
            Remote.DomainEventCallbackDeviceAdded.Arguments(callbackID: id, dom: domain, devAlias: alias).encode(into: &out)
        }
    }

    /// The guest refused to let a device go.
    func deviceRemovalFailed(_ domain: RemoteDomain, alias: String) {
        send(targets(eventID: Self.deviceRemovalFailed, domain: domain.uuid), procedure: Remote.DomainEventCallbackDeviceRemovalFailed.procedure) { id, out in
            Remote.DomainEventCallbackDeviceRemovalFailed.Arguments(callbackID: id, dom: domain, devAlias: alias).encode(into: &out)
        }
    }

    /// The guest set its real-time clock: `offset` seconds from the host's UTC now (from the
    /// start's base for other clocks than a variable one, as QEMU reports it).
    func rtcChanged(_ domain: RemoteDomain, offset: Int64) {
        send(targets(eventID: Self.rtcChange, domain: domain.uuid), procedure: Remote.DomainEventCallbackRtcChange.procedure) { id, out in
            Remote.DomainEventCallbackRtcChange.Arguments(callbackID: id, dom: domain, offset: offset).encode(into: &out)
        }
    }

    /// A watchdog fired and QEMU took `action`.
    func watchdogFired(_ domain: RemoteDomain, action: WatchdogEventAction) {
        send(targets(eventID: Self.watchdog, domain: domain.uuid), procedure: Remote.DomainEventCallbackWatchdog.procedure) { id, out in
            Remote.DomainEventCallbackWatchdog.Arguments(callbackID: id, dom: domain, action: action.rawValue).encode(into: &out)
        }
    }

    /// A disk's I/O failed: both of libvirt's events (`IO_ERROR`, and `IO_ERROR_REASON` with
    /// `enospc` when the host ran out of space, else an empty reason).
    func ioError(_ domain: RemoteDomain, sourcePath: String, alias: String, action: IOErrorEventAction, reason: String) {
        send(targets(eventID: Self.ioError, domain: domain.uuid), procedure: Remote.DomainEventCallbackIoError.procedure) { id, out in
            Remote.DomainEventCallbackIoError.Arguments(callbackID: id, dom: domain, srcPath: sourcePath, devAlias: alias, action: action.rawValue).encode(into: &out)
        }
        send(targets(eventID: Self.ioErrorReason, domain: domain.uuid), procedure: Remote.DomainEventCallbackIoErrorReason.procedure) { id, out in
            Remote.DomainEventCallbackIoErrorReason.Arguments(
                callbackID: id, dom: domain, srcPath: sourcePath, devAlias: alias, action: action.rawValue, reason: reason
            ).encode(into: &out)
        }
    }

    /// Why a disk's medium changed without a client asking (`virConnectDomainEventDiskChangeReason`).
    enum DiskChangeReason: Int32 {
        /// A CD-ROM or floppy drive's missing medium was left out at start.
        case missingOnStart = 0
        /// A disk whose source was missing was left out of the run.
        case dropMissingOnStart = 1
    }

    /// A disk's medium changed from `oldSource` to `newSource` (nil: none) for `reason`.
    func diskChanged(_ domain: RemoteDomain, oldSource: String?, newSource: String?, alias: String, reason: DiskChangeReason) {
        send(targets(eventID: Self.diskChange, domain: domain.uuid), procedure: Remote.DomainEventCallbackDiskChange.procedure) { id, out in
            Remote.DomainEventCallbackDiskChange.Arguments(
                callbackID: id, dom: domain, oldSrcPath: oldSource, newSrcPath: newSource, devAlias: alias, reason: reason.rawValue
            ).encode(into: &out)
        }
    }

    /// A removable-media drive's tray opened (`opened`) or closed.
    func trayChanged(_ domain: RemoteDomain, alias: String, opened: Bool) {
        // VIR_DOMAIN_EVENT_TRAY_CHANGE_OPEN = 0, _CLOSE = 1.
        send(targets(eventID: Self.trayChange, domain: domain.uuid), procedure: Remote.DomainEventCallbackTrayChange.procedure) { id, out in
            Remote.DomainEventCallbackTrayChange.Arguments(callbackID: id, dom: domain, devAlias: alias, reason: opened ? 0 : 1).encode(into: &out)
        }
    }

    /// The balloon changed the guest's memory (`actual` in KiB).
    func balloonChanged(_ domain: RemoteDomain, actualKiB: UInt64) {
        send(targets(eventID: Self.balloonChange, domain: domain.uuid), procedure: Remote.DomainEventCallbackBalloonChange.procedure) { id, out in
            Remote.DomainEventCallbackBalloonChange.Arguments(callbackID: id, dom: domain, actual: actualKiB).encode(into: &out)
        }
    }

    /// The title, description or a metadata element changed (`uri` for elements).
    func metadataChanged(_ domain: RemoteDomain, type: Int32, uri: String?) {
        send(targets(eventID: Self.metadataChange, domain: domain.uuid), procedure: Remote.DomainEventCallbackMetadataChange.procedure) { id, out in
            Remote.DomainEventCallbackMetadataChange.Arguments(callbackID: id, dom: domain, type: type, nsuri: uri).encode(into: &out)
        }
    }
}

public import CorralClient
public import CorralJSON
public import CorralProtocol
import QMP
import XDR

/// A QMP event of a guest, as the daemon forwards it (`virConnectDomainQemuMonitorEventRegister`).
public struct QEMUMonitorEvent: Sendable, Hashable {
    /// The guest.
    public var domain: DomainHandle
    /// The QMP event name (`STOP`, `RESUME`, …).
    public var name: String
    /// The QMP timestamp: seconds (-1 when QEMU gave none) and microseconds.
    public var seconds: Int64
    public var microseconds: UInt32
    /// The event's `data` member as compact JSON, or `nil` when it had none.
    public var details: String?

    /// The event as QEMU wrote it on its monitor.
    public var qmpMessage: JSONValue {
        QMPEvent.message(name: name, seconds: seconds, microseconds: Int64(microseconds), data: details.flatMap { try? JSONValue.parse($0) })
    }
}

/// How an event name given to ``CorralConnection/qemuMonitorEvents(domain:event:matching:)`` is matched.
public struct QEMUMonitorEventMatch: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The name is a regular expression (`VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_REGEX`).
    public static let regex = QEMUMonitorEventMatch(rawValue: 1)
    /// Case is ignored (`…_NOCASE`).
    public static let ignoringCase = QEMUMonitorEventMatch(rawValue: 2)
}

/// A registration for monitor events, and the events it receives.
public struct QEMUMonitorEventSubscription: Sendable {
    /// The callback id the daemon returned.
    public let callbackID: Int32
    /// The events, in arrival order; the sequence ends when the connection closes.
    public let events: AsyncStream<QEMUMonitorEvent>
}

extension CorralConnection {
    /// Registers for QMP events of `domain` (or of every guest), optionally only those named
    /// `event`, and returns them as an `AsyncSequence`.
    ///
    /// This reads the connection's ``CorralConnection/events``, which has one consumer: use one
    /// subscription per connection.
    public func qemuMonitorEvents(
        domain: DomainHandle? = nil, event: String? = nil, matching: QEMUMonitorEventMatch = []
    ) async throws(CorralClientError) -> QEMUMonitorEventSubscription {
        let callbackID = try await call(Qemu.ConnectDomainMonitorEventRegister.self, .init(dom: domain, event: event, flags: matching.rawValue)).callbackID
        let frames = self.events
        let events = AsyncStream<QEMUMonitorEvent>(bufferingPolicy: .bufferingNewest(65_536)) { continuation in
            let task = Task {
                for await frame in frames {
                    guard frame.header.program == RPCProgram.qemu.rawValue, frame.header.procedure == Qemu.DomainMonitorEvent.procedure,
                        let message = try? Qemu.DomainMonitorEvent.Arguments(xdrRecord: frame.body), message.callbackID == callbackID
                    else { continue }
                    continuation.yield(QEMUMonitorEvent(
                        domain: message.dom, name: message.event, seconds: message.seconds, microseconds: message.micros, details: message.details))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
        return QEMUMonitorEventSubscription(callbackID: callbackID, events: events)
    }

    /// Ends a monitor event registration.
    public func endQEMUMonitorEvents(_ subscription: QEMUMonitorEventSubscription) async throws(CorralClientError) {
        _ = try await call(Qemu.ConnectDomainMonitorEventDeregister.self, .init(callbackID: subscription.callbackID))
    }
}

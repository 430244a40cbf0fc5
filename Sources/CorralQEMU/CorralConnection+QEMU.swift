public import CorralClient
public import CorralProtocol

/// libvirt-qemu's API on a ``CorralConnection``: raw QMP or HMP to a running guest, through the
/// daemon's dedicated passthrough session.
extension CorralConnection {
    /// Sends a QMP command (JSON text) to the guest and returns QEMU's whole reply as JSON text;
    /// QEMU's error replies are returned, not thrown. With `hmp`, `command` is an HMP command line
    /// and the result its output.
    public func qemuMonitorCommand(_ domain: DomainHandle, _ command: String, hmp: Bool = false) async throws(CorralClientError) -> String {
        try await call(Qemu.DomainMonitorCommand.self, .init(dom: domain, cmd: command, flags: hmp ? 1 : 0)).result
    }

    /// Sends a guest-agent command (JSON text, for example `{"execute":"guest-ping"}`) to the
    /// agent in the guest and returns its whole reply as JSON text.
    ///
    /// - Parameter timeout: seconds to wait for the agent; `.default` (-1), `.block` (-2) or
    ///   `.noWait` (0) as libvirt's `virDomainQemuAgentCommand` takes them.
    public func qemuAgentCommand(_ domain: DomainHandle, _ command: String, timeout: QEMUAgentTimeout = .default) async throws(CorralClientError) -> String? {
        try await call(Qemu.DomainAgentCommand.self, .init(dom: domain, cmd: command, timeout: timeout.rawValue, flags: 0)).result
    }
}

/// How long ``CorralConnection/qemuAgentCommand(_:_:timeout:)`` waits for the guest agent.
public struct QEMUAgentTimeout: RawRepresentable, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// Wait for ever (`VIR_DOMAIN_QEMU_AGENT_COMMAND_BLOCK`).
    public static let block = QEMUAgentTimeout(rawValue: -2)
    /// The daemon's default, 5 seconds (`…_DEFAULT`).
    public static let `default` = QEMUAgentTimeout(rawValue: -1)
    /// Do not wait (`…_NOWAIT`).
    public static let noWait = QEMUAgentTimeout(rawValue: 0)
    /// This many seconds.
    public static func seconds(_ seconds: Int32) -> QEMUAgentTimeout { QEMUAgentTimeout(rawValue: seconds) }
}

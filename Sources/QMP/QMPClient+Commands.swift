import CorralJSON
/// The VM's run state (`query-status`).
public struct QMPStatus: Sendable, Hashable {
    /// Whether the vCPUs run.
    public var running: Bool
    /// QEMU's run state (`running`, `paused`, `prelaunch`, `shutdown`, …).
    public var status: String
}

extension QMPClient {
    /// `query-status`.
    public func queryStatus() async throws(QMPError) -> QMPStatus {
        let value = try await execute("query-status")
        return QMPStatus(running: value["running"]?.boolValue ?? false, status: value["status"]?.stringValue ?? "")
    }

    /// `query-version` as libvirt encodes it: major × 1,000,000 + minor × 1,000 + micro.
    public func queryVersion() async throws(QMPError) -> UInt64 {
        QMPVersionNumber.encode(try await execute("query-version"))
    }

    /// `cont`: run the vCPUs.
    public func cont() async throws(QMPError) { _ = try await execute("cont") }
    /// `stop`: pause the vCPUs.
    public func stop() async throws(QMPError) { _ = try await execute("stop") }
    /// `system_powerdown`: press the ACPI power button.
    public func systemPowerdown() async throws(QMPError) { _ = try await execute("system_powerdown") }
    /// `system_reset`: reset the machine.
    public func systemReset() async throws(QMPError) { _ = try await execute("system_reset") }
    /// `quit`: end QEMU.
    public func quit() async throws(QMPError) { _ = try await execute("quit") }

    /// `human-monitor-command`: run an HMP command and return its output.
    public func humanMonitorCommand(_ commandLine: String) async throws(QMPError) -> String {
        try await execute("human-monitor-command", arguments: .object([("command-line", .string(commandLine))])).stringValue ?? ""
    }
}

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
}

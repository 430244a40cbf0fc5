public import CorralClient
public import CorralJSON
public import CorralProtocol
public import QMP

/// QMP through the daemon: each message goes as `DOMAIN_MONITOR_COMMAND` to the guest's
/// dedicated passthrough session, so the typed ``QMPTransport`` API runs unchanged on a guest
/// managed by corrald (or libvirtd).
public struct DaemonQMPTransport: QMPTransport {
    /// The connection to the daemon.
    public let connection: CorralConnection
    /// The guest.
    public let domain: DomainHandle

    /// Creates a transport for `domain` over `connection`.
    public init(connection: CorralConnection, domain: DomainHandle) {
        self.connection = connection
        self.domain = domain
    }

    public func executeRaw(_ message: JSONValue) async throws(QMPError) -> JSONValue {
        let text: String
        do throws(CorralClientError) {
            text = try await connection.qemuMonitorCommand(domain, message.description)
        } catch {
            throw QMPError(code: .connectionClosed, message: error.message)
        }
        do throws(JSONParseError) {
            return try JSONValue.parse(text)
        } catch {
            throw QMPError(code: .protocolViolation, message: "the daemon returned a reply that is not JSON: \(error.message)")
        }
    }
}

public import CorralClient
import CorralJSON
public import CorralProtocol
public import QMP

/// A QMP socket in front of a guest that a daemon manages: ordinary QMP clients (`qmp-shell`,
/// QMP libraries) connect to it and talk to the guest through the daemon's dedicated
/// passthrough session, each with its own greeting, negotiation and ids, and each receiving the
/// guest's events. The daemon keeps managing the guest meanwhile.
public final class QMPProxy: Sendable {
    /// The Unix socket clients connect to.
    public let socketPath: String
    private let server: QMPProxyServer
    private let forwarding: Task<Void, Never>
    private let connection: CorralConnection
    private let subscription: QEMUMonitorEventSubscription

    private init(socketPath: String, server: QMPProxyServer, forwarding: Task<Void, Never>, connection: CorralConnection, subscription: QEMUMonitorEventSubscription) {
        self.socketPath = socketPath
        self.server = server
        self.forwarding = forwarding
        self.connection = connection
        self.subscription = subscription
    }

    /// Starts a proxy for `domain` on `socketPath` (mode 0600). It reads the connection's event
    /// stream (see ``CorralConnection/qemuMonitorEvents(domain:event:matching:)``), so give it a
    /// connection of its own.
    public static func start(connection: CorralConnection, domain: DomainHandle, socketPath: String) async throws(QMPError) -> QMPProxy {
        let transport = DaemonQMPTransport(connection: connection, domain: domain)
        let version = try await transport.run("query-version")
        let subscription: QEMUMonitorEventSubscription
        do throws(CorralClientError) {
            subscription = try await connection.qemuMonitorEvents(domain: domain)
        } catch {
            throw QMPError(code: .connectionFailed, message: "cannot register for the guest's events: \(error.message)")
        }
        let server: QMPProxyServer
        do throws(QMPError) {
            server = try await QMPProxyServer.listen(unixSocket: socketPath, transport: transport, version: version)
        } catch {
            try? await connection.endQEMUMonitorEvents(subscription)
            throw error
        }
        // The proxy lives while the daemon connection does and the guest runs: like QEMU's own
        // socket, it goes away (its clients see the end of the stream) when the guest stops.
        let forwarding = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in subscription.events { server.deliver(event: event.qmpMessage) }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(500))
                        guard let state = try? await connection.domainState(domain), state.state != 5, state.state != 6 else { return }
                    }
                }
                await group.next()
                group.cancelAll()
            }
            await server.close()
        }
        return QMPProxy(socketPath: socketPath, server: server, forwarding: forwarding, connection: connection, subscription: subscription)
    }

    /// The number of QMP clients connected now.
    public var clientCount: Int { server.clientCount }

    /// Waits until the proxy ends: the daemon connection closed, the guest stopped (shut off or
    /// crashed, or it is gone), or ``close()`` was called.
    public func waitUntilEnded() async { await forwarding.value }

    /// Stops listening, disconnects the clients and ends the event registration.
    public func close() async {
        forwarding.cancel()
        await server.close()
        try? await connection.endQEMUMonitorEvents(subscription)
    }
}

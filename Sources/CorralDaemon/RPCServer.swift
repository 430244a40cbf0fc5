import CorralProtocol
import Foundation
import POSIXSupport
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// The daemon's RPC listeners: a read-write and a read-only Unix socket, optionally libvirt's
/// socket paths too, and with `--listen` TLS and TCP; or the sockets systemd handed over.
///
/// Each Unix socket is bound under a temporary name, given its permissions, and only then renamed
/// into place, so the socket file appears exactly when it accepts calls. By default the read-write
/// socket is `0600` (owner only) and the read-only socket `0666` (`unix_sock_rw_perms`,
/// `unix_sock_ro_perms` and `unix_sock_group` change that).
public final class RPCServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channels: Mutex<[any Channel]> = Mutex([])
    /// The sockets this daemon published, to remove only those at stop.
    private let published: Mutex<[String: FileIdentity]> = Mutex([:])
    private let connectionCounter = Atomic<UInt64>(0)
    private let openConnections = Atomic<Int>(0)
    private let refusedConnections = Atomic<Int>(0)
    /// Calls handed off and not answered yet, on every connection.
    let callsInFlight = InFlightCalls()
    private let procedures: ProcedureTable
    private let connectionClosed: @Sendable (UInt64) -> Void
    private let configuration: DaemonConfiguration
    private let logger: Logger

    /// Creates a server that answers with `procedures`.
    init(
        configuration: DaemonConfiguration, procedures: ProcedureTable, group: MultiThreadedEventLoopGroup, logger: Logger,
        connectionClosed: @escaping @Sendable (UInt64) -> Void = { _ in }
    ) {
        self.connectionClosed = connectionClosed
        self.configuration = configuration
        self.procedures = procedures
        self.group = group
        self.logger = logger
    }

    /// Starts listening: on the sockets systemd handed over, or else on the Unix sockets (and
    /// libvirt's, when asked) and, with `--listen`, on TLS and TCP. Throws if one cannot be
    /// bound (another daemon has it, a port is taken, a certificate is missing).
    public func start() async throws {
        let access = configuration.remoteAccess
        let sockets = configuration.unixSockets
        let group = try sockets.group.map { name in
            guard let id = UnixGroup.id(named: name) else { throw ServerStartError(description: "no group '\(name)' on this host") }
            return id
        }
        if !configuration.activatedSockets.isEmpty {
            for socket in configuration.activatedSockets {
                let kind: ListenerKind
                switch socket.role {
                case .readWrite: kind = .unix(readOnly: false)
                case .readOnly: kind = .unix(readOnly: true)
                case .tls: kind = .tls(try tlsCredentials(), authentication: access.tlsAuthentication)
                case .tcp: kind = try tcpListenerKind()
                }
                let channel = try await bootstrap(kind).withBoundSocket(socket.descriptor).get()
                channels.withLock { $0.append(channel) }
                logger.info("listening on a socket from systemd", metadata: ["role": "\(socket.role.rawValue)"])
            }
            return
        }
        try await bind(path: configuration.socketPath, readOnly: false, permissions: sockets.readWritePermissions, group: group)
        try await bind(path: configuration.readOnlySocketPath, readOnly: true, permissions: sockets.readOnlyPermissions, group: group)
        if sockets.servesLibvirtSockets {
            let libvirt = LibvirtSocketPaths(environment: ProcessInfo.processInfo.environment)
            try await bind(path: libvirt.readWrite, readOnly: false, permissions: sockets.readWritePermissions, group: group)
            try await bind(path: libvirt.readOnly, readOnly: true, permissions: sockets.readOnlyPermissions, group: group)
        }
        guard access.listen else { return }
        if access.listenTLS {
            try await listen(port: access.tlsPort, kind: .tls(try tlsCredentials(), authentication: access.tlsAuthentication))
        }
        if access.listenTCP {
            try await listen(port: access.tcpPort, kind: try tcpListenerKind())
        }
    }

    private func tlsCredentials() throws -> TLSServerCredentials {
        do throws(TLSServerCredentials.LoadError) {
            return try TLSServerCredentials(
                files: configuration.remoteAccess.tlsFiles, allowedSubjects: configuration.remoteAccess.allowedDistinguishedNames)
        } catch {
            throw ServerStartError(description: error.description)
        }
    }

    private func tcpListenerKind() throws -> ListenerKind {
        let scheme = configuration.remoteAccess.tcpAuthentication
        if scheme == .none {
            logger.warning("TCP listener without authentication (auth_tcp = \"none\"): anyone who reaches the port controls every guest; use it only for tests")
        }
        return .tcp(authentication: scheme)
    }

    /// Listens on a TCP port: on `listen_addr`, or on every address (IPv6 with IPv4 mapped, or
    /// IPv4 alone where the host has no IPv6).
    private func listen(port: Int, kind: ListenerKind) async throws {
        let addresses = configuration.remoteAccess.listenAddress.map { [$0] } ?? ["::", "0.0.0.0"]
        var lastError: (any Error)?
        for address in addresses {
            do {
                // As libvirtd: a restarted daemon binds its port despite connections in TIME_WAIT.
                let channel = try await bootstrap(kind).serverChannelOption(.socketOption(.so_reuseaddr), value: 1).bind(host: address, port: port).get()
                channels.withLock { $0.append(channel) }
                logger.info("listening", metadata: ["address": "\(address)", "port": "\(port)", "transport": "\(kind.name)"])
                return
            } catch {
                lastError = error
            }
        }
        throw ServerStartError(description: "cannot listen on port \(port) (\(kind.name)): \(lastError.map { "\($0)" } ?? "no address")")
    }

    private func bind(path: String, readOnly: Bool, permissions: UInt32, group: gid_t?) async throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        if Self.socketIsLive(path: path) {
            throw ServerStartError(description: "another daemon is already listening on \(path)")
        }
        do throws(SystemError) {
            try UnixSocket.claim(path)
        } catch {
            throw ServerStartError(description: error.description)
        }
        let temporary = UnixSocket.temporaryPath(for: path)
        unlink(temporary)
        let channel = try await bootstrap(.unix(readOnly: readOnly))
            .bind(unixDomainSocketPath: temporary, cleanupExistingSocketFile: true)
            .get()
        do throws(SystemError) {
            try UnixSocket.publish(temporary, as: path, permissions: permissions, group: group)
        } catch {
            try? await channel.close()
            throw ServerStartError(description: error.description)
        }
        channels.withLock { $0.append(channel) }
        let identity = FileIdentity(path: path)
        published.withLock { $0[path] = identity }
        logger.info("listening", metadata: ["socket": "\(path)", "readOnly": "\(readOnly)"])
    }

    /// The bootstrap of one listener: options, then per connection the admission check, TLS
    /// where it applies, framing and the RPC handler.
    private func bootstrap(_ kind: ListenerKind) -> ServerBootstrap {
        let procedures = self.procedures
        let logger = self.logger
        let maximumPacketLength = configuration.maximumPacketLength
        let limits = configuration.limits
        let keepalive = configuration.keepalive
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.maxMessagesPerRead, value: 64)
            .childChannelOption(.autoRead, value: true)
            // Reads of up to 1 MiB when a client sends much (stream data comes in 256 KiB packets).
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 1 << 20))
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard self.admit(channel, limit: limits.maximumClients) else { return }
                    let id = self.nextConnectionID()
                    let addRPCHandlers = { (channel: any Channel, transport: ConnectionTransport) throws in
                        try channel.pipeline.syncOperations.addHandler(RPCFrameAssembler(maximumPacketLength: maximumPacketLength))
                        try channel.pipeline.syncOperations.addHandler(
                            RPCServerHandler(
                                procedures: procedures, transport: transport, connectionID: id, limits: limits, keepalive: keepalive,
                                logger: logger, callsInFlight: self.callsInFlight, connectionClosed: self.connectionClosed)
                        )
                    }
                    switch kind {
                    case .unix(let readOnly):
                        var transport = ConnectionTransport(kind: .unix, socketIsReadOnly: readOnly, authentication: .none)
                        transport.peerUserID = PeerCredentials.userID(of: channel)
                        try addRPCHandlers(channel, transport)
                    case .tcp(let authentication):
                        try addRPCHandlers(channel, ConnectionTransport(kind: .tcp, socketIsReadOnly: false, authentication: authentication))
                    case .tls(let credentials, let authentication):
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: credentials.context))
                        try channel.pipeline.syncOperations.addHandler(
                            TLSClientGate(credentials: credentials, logger: logger) { channel, subject in
                                var transport = ConnectionTransport(kind: .tls, socketIsReadOnly: false, authentication: authentication)
                                transport.peerSubject = subject
                                try addRPCHandlers(channel, transport)
                            })
                    }
                }
            }
    }

    /// Counts a new connection in, or closes it when ``ConnectionLimits/maximumClients`` are
    /// already open (logged once for each run of refusals).
    private func admit(_ channel: any Channel, limit: Int) -> Bool {
        let count = openConnections.wrappingAdd(1, ordering: .relaxed).newValue
        channel.closeFuture.whenComplete { _ in self.openConnections.wrappingSubtract(1, ordering: .relaxed) }
        guard count > limit else {
            if refusedConnections.exchange(0, ordering: .relaxed) > 0 { logger.notice("accepting connections again") }
            return true
        }
        if refusedConnections.wrappingAdd(1, ordering: .relaxed).newValue == 1 {
            logger.warning("too many clients (max_clients \(limit)): closing new connections until some end")
        }
        channel.close(promise: nil)
        return false
    }

    private func nextConnectionID() -> UInt64 {
        connectionCounter.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Whether something accepts connections on `path`.
    static func socketIsLive(path: String) -> Bool { UnixSocket.isLive(path) }

    /// Stops listening and removes the socket files; open connections stay until the process ends.
    public func stop() async {
        let listening = channels.withLock { channels in
            defer { channels.removeAll() }
            return channels
        }
        for channel in listening { try? await channel.close() }
        // Only the sockets still ours: another daemon may own the paths by now.
        for (path, identity) in published.withLock({ $0 }) { UnixSocket.remove(path, ifStill: identity) }
    }
}

/// The daemon could not start listening.
public struct ServerStartError: Error, CustomStringConvertible {
    public var description: String
}

/// What a listener serves.
enum ListenerKind {
    case unix(readOnly: Bool)
    case tcp(authentication: AuthenticationScheme)
    case tls(TLSServerCredentials, authentication: AuthenticationScheme)

    var name: String {
        switch self {
        case .unix: return "unix"
        case .tcp: return "tcp"
        case .tls: return "tls"
        }
    }
}

/// libvirt's own socket paths, served when corrald stands in for libvirtd.
struct LibvirtSocketPaths {
    var readWrite: String
    var readOnly: String

    init(environment: [String: String]) {
        let directory: String
        if getuid() == 0 {
            directory = "/run/libvirt"
        } else {
            directory = (environment["XDG_RUNTIME_DIR"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache")) + "/libvirt"
        }
        readWrite = directory + "/libvirt-sock"
        readOnly = directory + "/libvirt-sock-ro"
    }
}

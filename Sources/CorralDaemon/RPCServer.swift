import CorralProtocol
import Foundation
import POSIXSupport
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The daemon's RPC listener: a read-write and a read-only Unix socket.
///
/// Each socket is bound under a temporary name, given its permissions, and only then renamed into
/// place, so the socket file appears exactly when it accepts calls. The read-write socket is
/// `0600` (owner only); the read-only socket is `0666`, as libvirtd's are by default.
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

    /// Binds both sockets. Throws if a socket cannot be bound (for example, another daemon has it).
    public func start() async throws {
        try await bind(path: configuration.socketPath, readOnly: false, permissions: 0o600)
        try await bind(path: configuration.readOnlySocketPath, readOnly: true, permissions: 0o666)
    }

    private func bind(path: String, readOnly: Bool, permissions: Int) async throws {
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
        let procedures = self.procedures
        let logger = self.logger
        let maximumPacketLength = configuration.maximumPacketLength
        let limits = configuration.limits
        let channel = try await ServerBootstrap(group: group)
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
                    try channel.pipeline.syncOperations.addHandler(RPCFrameAssembler(maximumPacketLength: maximumPacketLength))
                    try channel.pipeline.syncOperations.addHandler(
                        RPCServerHandler(
                            procedures: procedures, socketIsReadOnly: readOnly, connectionID: id, limits: limits, logger: logger,
                            callsInFlight: self.callsInFlight, connectionClosed: self.connectionClosed)
                    )
                }
            }
            .bind(unixDomainSocketPath: temporary, cleanupExistingSocketFile: true)
            .get()
        do throws(SystemError) {
            try UnixSocket.publish(temporary, as: path, permissions: UInt32(permissions))
        } catch {
            try? await channel.close()
            throw ServerStartError(description: error.description)
        }
        channels.withLock { $0.append(channel) }
        let identity = FileIdentity(path: path)
        published.withLock { $0[path] = identity }
        logger.info("listening", metadata: ["socket": "\(path)", "readOnly": "\(readOnly)"])
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

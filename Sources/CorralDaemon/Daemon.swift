import Foundation
import QEMUProbe
public import Logging
public import NIOPosix

/// `corrald`: probes the host and emulator, builds the procedure table, and serves it.
public final class Daemon: Sendable {
    /// The configuration in use.
    public let configuration: DaemonConfiguration
    private let server: RPCServer
    private let logger: Logger

    /// Prepares a daemon: probes the emulator and the host (once) and builds the handlers.
    public init(configuration: DaemonConfiguration, group: MultiThreadedEventLoopGroup, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        for directory in [configuration.stateDirectory, configuration.runDirectory] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let emulator = EmulatorProbe.probe(path: configuration.emulatorPath, cacheDirectory: configuration.stateDirectory + "/cache", logger: logger)
        let host = HostInformation.current()
        var table = ProcedureTable()
        ConnectionProcedures.register(in: &table, host: host, emulator: emulator)
        DomainProcedures.register(in: &table)
        server = RPCServer(configuration: configuration, procedures: table, group: group, logger: logger)
    }

    /// Starts listening on both sockets.
    public func start() async throws {
        try await server.start()
    }

    /// Stops listening and removes the sockets.
    public func stop() async {
        await server.stop()
        logger.info("stopped")
    }
}

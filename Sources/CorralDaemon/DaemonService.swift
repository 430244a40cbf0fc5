import Logging
public import ServiceLifecycle

/// `corrald` as a service of swift-service-lifecycle: runs until a graceful shutdown (SIGTERM or
/// SIGINT through the ``ServiceGroup``), then stops accepting, lets calls in flight finish (up
/// to ``Daemon/drainTimeout``), writes every running guest's status file and returns. Guests keep
/// running; the next daemon reattaches them.
public struct DaemonService: Service {
    private let daemon: Daemon

    /// A service around a prepared daemon.
    public init(daemon: Daemon) {
        self.daemon = daemon
    }

    /// Starts the daemon, waits for the group's graceful shutdown (or cancellation), then stops it.
    public func run() async throws {
        try await daemon.start()
        try? await gracefulShutdown()
        await daemon.stop()
    }
}

import ArgumentParser
import CorralDaemon
import Foundation
import Logging
import NIOCore
import NIOPosix
import POSIXSupport
import ServiceLifecycle
import UnixSignals

/// The entry point: Swift concurrency runs on NIO's event loops, the same threads that serve the
/// connections and the QMP sessions, so a call that awaits QEMU does not hop between thread
/// pools (on a 2-core host those hops cost more than the daemon's own work).
@main
enum CorraldEntry {
    static func main() async {
        // One arena per core (at least two) serves the event loops, one per core, and the
        // occasional worker thread without contention worth the memory of glibc's 8 per core.
        HeapTuning.limitArenas(to: Int32(max(2, min(System.coreCount, 64))))
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await CorraldMain.main()
    }
}

/// `corrald`: Corral's daemon. Runs in the foreground and logs to stderr.
struct CorraldMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corrald",
        abstract: "Corral's QEMU management daemon, speaking libvirt's RPC protocol."
    )

    @Option(help: "The read-write socket.")
    var socket: String?

    @Option(name: .customLong("socket-ro"), help: "The read-only socket.")
    var socketReadOnly: String?

    @Option(name: .customLong("state-dir"), help: "Directory for persistent domain definitions.")
    var stateDirectory: String?

    @Option(name: .customLong("run-dir"), help: "Directory for status files, monitor sockets and logs.")
    var runDirectory: String?

    @Option(help: "The QEMU binary.")
    var emulator: String?

    @Option(name: .customLong("emulator-i686"), help: "The QEMU binary of 32-bit (i686) guests; empty for none (default: qemu-system-i386 beside qemu-system-x86_64).")
    var i686Emulator: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("max-clients"), help: "Connections open at once, as libvirtd's max_clients (default 5000).")
    var maximumClients: Int?

    @Option(name: .customLong("max-client-requests"), help: "Calls of one connection worked on at once, as libvirtd's max_client_requests (default 5).")
    var maximumClientRequests: Int?

    @Flag(name: .customLong("no-default-network"), help: "Do not define and start the default NAT network when no network exists.")
    var noDefaultNetwork = false

    @Option(name: .customLong("open-timeout"), help: "Seconds a connection may stay without CONNECT_OPEN (default 30).")
    var openTimeout: Int?

    @Option(name: .customLong("config"), help: "The configuration file (libvirtd.conf's syntax; default /etc/corral/corrald.conf when it exists).")
    var configFile: String?

    @Flag(name: .customLong("listen"), help: "Listen on the network: TLS (listen_tls, on by default) and TCP (listen_tcp), as libvirtd --listen.")
    var listen = false

    @Flag(name: .customLong("libvirt-sockets"), help: "Also serve libvirt's socket paths (/run/libvirt/libvirt-sock and -ro), for qemu:///system clients.")
    var libvirtSockets = false

    func validate() throws {
        for (name, value) in [("--max-clients", maximumClients), ("--max-client-requests", maximumClientRequests), ("--open-timeout", openTimeout)] {
            if let value, !(1...1_000_000).contains(value) { throw ValidationError("\(name) must be from 1 to 1000000") }
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "corrald")
        var configuration = DaemonConfiguration.defaults()
        // The file first, then the command line over it.
        let file = configFile ?? (FileManager.default.fileExists(atPath: DaemonConfigFile.defaultPath) ? DaemonConfigFile.defaultPath : nil)
        if let file {
            do throws(ConfigFileError) {
                try DaemonConfigFile.load(path: file, into: &configuration)
            } catch {
                logger.critical("bad configuration: \(error.description)")
                throw ExitCode(2)
            }
            logger.info("read configuration", metadata: ["file": "\(file)"])
        }
        if let runDirectory {
            configuration.runDirectory = runDirectory
            configuration.socketPath = runDirectory + "/corrald-sock"
            configuration.readOnlySocketPath = runDirectory + "/corrald-sock-ro"
        }
        if let socket { configuration.socketPath = socket }
        if let socketReadOnly { configuration.readOnlySocketPath = socketReadOnly }
        if let stateDirectory { configuration.stateDirectory = stateDirectory }
        if let emulator { configuration.emulatorPath = emulator }
        if let i686Emulator { configuration.i686EmulatorOverride = i686Emulator }
        if let maximumClients { configuration.limits.maximumClients = maximumClients }
        if let maximumClientRequests { configuration.limits.maximumRequestsPerClient = maximumClientRequests }
        if let openTimeout { configuration.limits.openTimeout = .seconds(Int64(openTimeout)) }
        configuration.createsDefaultNetwork = !noDefaultNetwork
        if listen { configuration.remoteAccess.listen = true }
        if libvirtSockets { configuration.unixSockets.servesLibvirtSockets = true }
        do throws(SocketActivation.Problem) {
            configuration.activatedSockets = try SocketActivation.sockets(environment: ProcessInfo.processInfo.environment, processID: getpid())
        } catch {
            logger.critical("socket activation: \(error.description)")
            throw ExitCode(2)
        }
        // The sockets are the daemon's alone: QEMU and helpers must not see them or the variables.
        for variable in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(variable) }
        for socket in configuration.activatedSockets { _ = fcntl(socket.descriptor, F_SETFD, FD_CLOEXEC) }

        let group = MultiThreadedEventLoopGroup.singleton
        let daemon = try Daemon(configuration: configuration, group: group, logger: logger)
        // SIGTERM and SIGINT start a graceful stop (DaemonService); a stop that overruns its
        // bound is cancelled, so the daemon is gone within about 2 s either way.
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: DaemonService(daemon: daemon))], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(1900)
        let services = ServiceGroup(configuration: groupConfiguration)
        try await services.run()
        // Guests keep running; their monitor sessions simply end with the process. Waiting for
        // the event loops to drain those sessions would hang, so leave now.
        Foundation.exit(0)
    }
}

import CorralProtocol
import CorralStorage
import DomainXML
import Foundation
import POSIXSupport
import QEMUProbe
public import Logging
public import NIOPosix

/// `corrald`: probes the host and emulator, builds the procedure table, and serves it.
public final class Daemon: Sendable {
    /// The configuration in use.
    public let configuration: DaemonConfiguration
    private let server: RPCServer
    private let registry: DomainRegistry
    private let driver: DomainDriver
    private let storage: StorageDriver
    private let networks: NetworkDriver
    private let logger: Logger

    /// Prepares a daemon: probes the emulator and the host (once) and builds the handlers.
    public init(configuration: DaemonConfiguration, group: MultiThreadedEventLoopGroup, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        for directory in [configuration.stateDirectory, configuration.runDirectory] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let emulators = HostEmulators.probe(configuration: configuration, logger: logger)
        let emulator = emulators.primary
        var host = HostInformation.current()
        if let uuid = configuration.hostUUID { host.uuid = uuid }
        var options = Self.domainOptions(emulator: emulator, i686: emulators.i686)
        options.spiceTLS = configuration.spiceTLS.enabled
        registry = DomainRegistry(
            store: try DefinitionStore(stateDirectory: configuration.stateDirectory), snapshotStore: try SnapshotStore(stateDirectory: configuration.stateDirectory))
        registry.load(options: options, logger: logger)
        logger.info("loaded definitions", metadata: ["domains": "\(registry.count)"])
        let events = EventHub()
        let storageEvents = StorageEvents()
        let registry = self.registry
        storage = try StorageDriver(stateDirectory: configuration.stateDirectory, runDirectory: configuration.runDirectory, events: storageEvents, logger: logger) { pool, volume in
            registry.records { $0.runtime != nil }.first { record in
                record.definition.devices.disks.contains { $0.source == volume.path || ($0.sourcePool == pool && $0.sourceVolume == volume.name) }
            }?.name
        }
        storage.load()
        let networkEvents = NetworkEvents()
        networks = try NetworkDriver(stateDirectory: configuration.stateDirectory, runDirectory: configuration.runDirectory, events: networkEvents, logger: logger)
        networks.load()
        let secretEvents = SecretEvents()
        let secrets = try SecretDriver(stateDirectory: configuration.stateDirectory, events: secretEvents, logger: logger)
        secrets.load()
        let driver = DomainDriver(
            registry: registry, events: events, configuration: configuration, emulators: emulators, options: options, logger: logger,
            volumes: VolumeResolver(registry: storage.registry) { [storage] pool, xml, flags throws(RemoteError) in
                _ = try await storage.createVolume(in: pool, xml: xml, flags: flags)
            }, networks: networks, secrets: secrets)
        self.driver = driver
        driver.findManagedSaveImages()
        var table = ProcedureTable()
        ConnectionProcedures.register(in: &table, host: host, emulators: emulators)
        DomainProcedures.register(
            in: &table, registry: registry, jobs: driver.jobs, options: options, stateDirectory: configuration.stateDirectory,
            updatingCPU: { xml, definition in driver.updatingCPU(of: xml, definition: definition) }
        ) { name in driver.managedSavePath(for: name) }
        LifecycleProcedures.register(in: &table, driver: driver, registry: registry, events: events, options: options)
        QEMUProcedures.register(in: &table, driver: driver, registry: registry, events: events)
        NetworkProcedures.register(in: &table, driver: networks)
        StorageProcedures.register(in: &table, driver: storage)
        HostStatisticsProcedures.register(in: &table, emulator: emulator)
        ConsoleProcedures.register(in: &table, registry: registry, sessions: ConsoleSessions())
        StatisticsProcedures.register(in: &table, registry: registry, jobs: driver.jobs)
        BlockDeviceProcedures.register(in: &table, registry: registry, jobs: driver.jobs)
        GuestAgentProcedures.register(in: &table, registry: registry, networks: networks)
        MemoryProcedures.register(in: &table, registry: registry, driver: driver, options: options)
        ScreenshotProcedure.register(in: &table, registry: registry, jobs: driver.jobs)
        MetadataProcedures.register(in: &table, registry: registry, driver: driver, events: events, options: options)
        DeviceProcedures.register(in: &table, registry: registry, driver: driver)
        VcpuProcedures.register(in: &table, registry: registry, driver: driver, events: events)
        IOThreadProcedures.register(in: &table, registry: registry, driver: driver, events: events)
        SendKeyProcedure.register(in: &table, registry: registry, jobs: driver.jobs)
        BlockTuningProcedures.register(in: &table, registry: registry, driver: driver, events: events)
        RenameProcedure.register(in: &table, registry: registry, driver: driver, events: events)
        GuestInfoProcedure.register(in: &table, registry: registry)
        TunableProcedures.register(in: &table, registry: registry, driver: driver, events: events)
        SaveRestoreProcedures.register(in: &table, driver: driver, registry: registry, options: options)
        JobProcedures.register(in: &table, registry: registry, jobs: driver.longJobs)
        SnapshotProcedures.register(in: &table, driver: driver, registry: registry)
        MigrationProcedures.register(in: &table, driver: driver, registry: registry)
        SecretProcedures.register(in: &table, driver: secrets)
        server = RPCServer(configuration: configuration, procedures: table, group: group, logger: logger) { connection in
            events.connectionClosed(connection)
            storageEvents.connectionClosed(connection)
            networkEvents.connectionClosed(connection)
            secretEvents.connectionClosed(connection)
            Task { await driver.connectionClosed(connection) }
        }
    }

    /// How definitions are completed for these emulators: their machine aliases, default
    /// machines and default CPU models (the 32-bit emulator's for 32-bit guests).
    static func domainOptions(emulator: EmulatorCapabilities, i686: EmulatorCapabilities? = nil) -> DomainXMLOptions {
        var options = DomainXMLOptions()
        let primary = emulatorDefaults(emulator)
        options.defaultEmulator = primary.emulator
        options.machineAliases = primary.machineAliases
        options.defaultCPUModels = primary.defaultCPUModels
        options.defaultMachine = primary.defaultMachine
        options.i686 = i686.map(emulatorDefaults)
        return options
    }

    /// One emulator's part of the options: what its probe reported.
    static func emulatorDefaults(_ emulator: EmulatorCapabilities) -> DomainXMLOptions.EmulatorDefaults {
        var defaults = DomainXMLOptions.EmulatorDefaults(emulator: emulator.path)
        for machine in emulator.machines {
            if let canonical = machine.canonical { defaults.machineAliases[machine.name] = canonical }
            if machine.canonical == nil, let model = machine.defaultCPUModel { defaults.defaultCPUModels[machine.name] = model }
        }
        defaults.defaultMachine = emulator.machines.first { $0.isDefault }?.name
        return defaults
    }

    /// Recovers guests and networks, then starts listening (and tells systemd it is ready).
    public func start() async throws {
        let openFiles = OpenFileLimit.raiseToMaximum()
        logger.debug("open file limit", metadata: ["limit": "\(openFiles)"])
        try FileManager.default.createDirectory(atPath: configuration.runDirectory + "/domains", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        await networks.autostartAll()
        if configuration.createsDefaultNetwork { await networks.createDefaultNetworkIfNone() }
        await driver.reattachAll()
        await storage.autostartAll()
        await storage.createDefaultPoolIfNone(path: configuration.stateDirectory + "/images")
        try await server.start()
        SystemdNotify.ready()
        // What the probe and the recovery above allocated and freed goes back to the kernel, and
        // so do the pages of the executable they ran (serving faults its own back in).
        HeapTuning.returnFreeMemory()
        ResidentCode.releaseExecutablePages()
        Task { await driver.autostartAll() }
    }

    /// How long a stop waits for calls in flight: with the rest of the stop it stays within 2 s.
    public static let drainTimeout: Duration = .milliseconds(1500)

    /// Stops gracefully: stops accepting connections and removes the sockets, lets calls in
    /// flight finish and answers the calls their answers bring (up to ``drainTimeout``), and
    /// writes every running guest's status file.
    /// Guests keep running.
    public func stop() async {
        await server.stop()
        let pending = server.callsInFlight.current
        if pending > 0 { logger.info("waiting for calls in flight", metadata: ["calls": "\(pending)"]) }
        if await !server.callsInFlight.waitUntilQuiet(timeout: Self.drainTimeout) {
            logger.warning("calls still in flight at stop", metadata: ["calls": "\(server.callsInFlight.current)"])
        }
        let written = await driver.writeAllStatusFiles()
        let registry = self.registry
        if (try? await BlockingWork.run { registry.finishDefinitionStore(timeout: 5) }) != true {
            logger.warning("definitions not all written to their files at stop; the journal keeps them for the next start")
        }
        logger.info("stopped", metadata: ["guests": "\(written)"])
    }
}

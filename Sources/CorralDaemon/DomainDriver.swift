import CorralJSON
import CorralProtocol
import DomainXML
import Foundation
import Logging
import NIOCore
import NIOPosix
import POSIXSupport
import QEMUCommandLine
import QEMUConfig
import QEMUProbe
import QMP
import XMLTree

/// Starts, stops and supervises guests: the QEMU processes, their daemon QMP sessions, the
/// runtime files, the states and reasons libvirt reports, and the lifecycle events.
///
/// An actor: each domain's changes are serialised by its job (``DomainJobs``), and, because the actor is
/// re-entered while a start awaits QEMU, other domains are served meanwhile. It keeps no state of
/// its own about a guest: the domain's record in ``DomainRegistry`` holds it (``GuestRuntime``),
/// and the guest's ``GuestLifecycle`` decides what each event means.
actor DomainDriver {
    let registry: DomainRegistry
    let events: EventHub
    let configuration: DaemonConfiguration
    /// The configured emulator (``HostEmulators/primary``).
    let emulator: EmulatorCapabilities
    /// Every emulator guests run on: the one a guest's `<emulator>` names decides its checks.
    let emulators: HostEmulators
    let options: DomainXMLOptions
    let logger: Logger
    /// Runs clients' monitor commands on the guests' passthrough sessions (which the domain
    /// records hold).
    nonisolated let passthrough: PassthroughSessions
    /// Every change to a domain runs inside its job.
    nonisolated let jobs = DomainJobs()
    /// Detaches waiting for QEMU to let a device go.
    nonisolated let removals = DeviceRemovals()
    /// Long jobs (save, restore): their progress for `domjobinfo`, and their cancel.
    nonisolated let longJobs = LongJobs()
    /// Migrations between their phases, and the per-domain speed and downtime limits.
    nonisolated let migrations = MigrationStates()
    nonisolated let migrationLimits = MigrationLimits()
    /// Every file operation on run directories, in order and off the event loops.
    nonisolated let runtimeFiles = RuntimeFileQueue()
    /// Passthrough sessions being opened: later callers wait for the same one (QEMU's monitor
    /// takes one client at a time, so a second connection would wait for the first to close).
    private var openingSessions: [PassthroughMonitorKey: Task<Result<QMPClient, RemoteError>, Never>] = [:]
    private var nextID: Int32 = 1
    /// VNC, SPICE and WebSocket ports chosen for guests whose QEMU has not bound them yet: two
    /// starts at once do not choose the same one.
    private var graphicsPortsStarting: Set<Int> = []

    /// Turns a `volume` disk's pool and volume into the volume's path (the storage driver).
    nonisolated let volumes: VolumeResolver?
    /// The network driver, which gives `network` interfaces their bridge and port.
    nonisolated let networks: NetworkDriver?
    /// The secrets disks authenticate and decrypt with.
    nonisolated let secrets: SecretDriver?
    /// The tap names guests hold.
    nonisolated let tapNames = TapNames()
    /// This host's control groups (empty when the daemon may not use them: not root).
    nonisolated let cgroups: CgroupLayout

    init(
        registry: DomainRegistry, events: EventHub, configuration: DaemonConfiguration, emulators: HostEmulators, options: DomainXMLOptions,
        logger: Logger, volumes: VolumeResolver? = nil, networks: NetworkDriver? = nil, secrets: SecretDriver? = nil
    ) {
        self.volumes = volumes
        self.networks = networks
        self.secrets = secrets
        self.registry = registry
        self.events = events
        self.configuration = configuration
        self.emulator = emulators.primary
        self.emulators = emulators
        self.options = options
        self.logger = logger
        self.passthrough = PassthroughSessions(logger: logger)
        // Only root may create groups for its guests.
        self.cgroups = getuid() != 0 ? CgroupLayout() : CgroupLayout.parse(
            mountinfo: (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "",
            unifiedControllers: { mount in
                Set(((try? String(contentsOfFile: mount + "/cgroup.controllers", encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
            })
    }

    /// The definition QEMU gets: each `volume` disk with its volume's path, kind and (when the
    /// disk names none) format. The domain's XML keeps the pool and volume, as libvirt's does.
    nonisolated func resolveVolumeDisks(_ definition: DomainDefinition) throws(RemoteError) -> DomainDefinition {
        var resolved = definition
        for index in resolved.devices.disks.indices where resolved.devices.disks[index].type == .volume {
            let disk = resolved.devices.disks[index]
            guard let volumes, let pool = disk.sourcePool, let volume = disk.sourceVolume else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "disk \(disk.targetDevice) names no storage volume")
            }
            let found = try volumes.resolve(pool: pool, volume: volume)
            resolved.devices.disks[index].type = found.isBlock ? .block : .file
            resolved.devices.disks[index].source = found.path
            if resolved.devices.disks[index].format == nil { resolved.devices.disks[index].format = found.format }
        }
        return resolved
    }

    /// How running guests' documents are read: with their run-time details.
    nonisolated var liveOptions: DomainXMLOptions {
        var live = options
        live.keepsLiveState = true
        return live
    }

    nonisolated func runDirectory(for name: String) -> String { configuration.runDirectory + "/domains/" + name }

    // MARK: - Starting

    /// Starts a defined domain. `paused` leaves the vCPUs stopped; `autodestroy` ties the guest
    /// to the connection that started it; `live` is a definition for this run only (a create over
    /// an inactive persistent domain), the persistent one staying for the next.
    ///
    /// With `incoming`, QEMU starts waiting for a migration stream (`-incoming defer`) and loads
    /// the guest's state from the descriptor before its vCPUs may run (a restore); the guest is
    /// then reported started as restored. With `loadSnapshot`, QEMU loads that internal snapshot
    /// of the guest's images before it runs (a revert), reported started from the snapshot.
    ///
    /// A port the daemon chose for a VNC or SPICE server (or a VNC WebSocket) that another
    /// process took before QEMU bound it fails QEMU's start; the daemon then chooses again, up to
    /// three times in all (not for a restore or an incoming migration, whose stream QEMU was given).
    func start(
        _ uuid: RemoteUUID, paused: Bool, autodestroyConnection: UInt64?, live: ParsedDomain? = nil, incoming: IncomingMigration? = nil,
        loadSnapshot: String? = nil, resetNVRAM: Bool = false
    ) async throws(RemoteError) -> RemoteDomain {
        var attempt = 1
        while true {
            do throws(RemoteError) {
                return try await startOnce(
                    uuid, paused: paused, autodestroyConnection: autodestroyConnection, live: live, incoming: incoming, loadSnapshot: loadSnapshot,
                    resetNVRAM: resetNVRAM)
            } catch {
                let graphics = (live?.definition ?? registry.record(uuid: uuid)?.definition)?.devices.graphics ?? []
                let choosesPorts = graphics.contains { $0.autoport || ($0.port ?? -1) <= 0 || $0.websocket == -1 }
                guard attempt < 3, incoming == nil, choosesPorts, Self.lostGraphicsPort(error) else { throw error }
                attempt += 1
                logger.info("a display port was taken before QEMU bound it; choosing again", metadata: ["uuid": "\(uuid)", "attempt": "\(attempt)"])
            }
        }
    }

    /// Whether QEMU failed to start because a VNC or SPICE port it was given was taken.
    static func lostGraphicsPort(_ error: RemoteError) -> Bool {
        let message = error.message ?? ""
        return message.contains("Failed to find an available port") || message.contains("Failed to open SPICE sockets")
    }

    private func startOnce(
        _ uuid: RemoteUUID, paused: Bool, autodestroyConnection: UInt64?, live: ParsedDomain?, incoming: IncomingMigration?,
        loadSnapshot: String?, resetNVRAM: Bool
    ) async throws(RemoteError) -> RemoteDomain {
        guard let record = registry.record(uuid: uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
        }
        // The caller holds the domain's job, so no other change runs meanwhile.
        guard !record.isActive else {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is already running")
        }
        // How the run is reported: booted, restored or from a snapshot.
        let origin: (started: LifecycleEvent.StartedDetail, running: DomainStatus.RunningReason)
        switch incoming {
        case .stream?: origin = (.restored, .restored)
        case .network?: origin = (.migrated, .migrated)
        case nil: origin = loadSnapshot != nil ? (.fromSnapshot, .fromSnapshot) : (.booted, .booted)
        }
        let live = try await applyingStartupPolicies(to: live, of: record, coldBoot: incoming == nil && loadSnapshot == nil)
        var definition = live?.definition ?? record.definition
        let unmodelled = live?.unmodelled ?? record.unmodelled
        if let refusal = ParsedDomain.startRefusal(name: record.name, unmodelled: unmodelled) {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: refusal)
        }
        definition = try resolveVolumeDisks(definition)
        // The definition as its own document (the live XML is made from it): read before QEMU
        // is launched only when the CPU needs it; otherwise while QEMU starts.
        let xml = live?.xml ?? record.xml
        let startDocument = definition.cpu == nil ? nil : try? DomainXMLParser.parse(xml, options: startDocumentOptions)
        // A host-model CPU (or one with optional features) made concrete against the host model,
        // as libvirt makes it before it builds the command line.
        var startCPU: XMLTree.XMLElement?
        if let cpu = startDocument?.document.element(named: "cpu") {
            try checkHostCPUCompatibility(cpu, definition: definition)
            let made = hostModelCPU(cpu, definition: definition)
            definition.cpu = Self.takingModel(of: made, into: definition.cpu)
            startCPU = made
        }
        // A custom model's features QEMU removed from it are asked off (libvirt's virCPUUpdate).
        if let map = GuestCPUFeatures.map { definition.cpu = definition.cpu?.disablingRemovedFeatures(map: map) }
        let unresolved = definition
        definition = try await BlockingWork.run { () throws(RemoteError) -> DomainDefinition in
            try Self.resolveHostSMBIOS(self.resolveFirmware(Self.detectBackingChains(unresolved), resetNVRAM: resetNVRAM))
        }
        let id = nextID
        // Ids wrap rather than trap after 2^31 - 1 starts.
        nextID = nextID == Int32.max ? 1 : nextID + 1
        let directory = runDirectory(for: record.name)
        var context = makeContext(id: id, directory: directory, definition: definition)
        context.diskSecrets = try diskSecrets(definition)
        if !definition.devices.hostDevices.isEmpty {
            // The host's side of each <hostdev>, found in sysfs (off the event loops).
            let wanted = definition
            context.hostDeviceBindings = try await BlockingWork.run { () throws(RemoteError) -> [Int: CommandLineContext.HostDeviceBinding] in
                do throws(HostDeviceLookup.Failure) {
                    return try HostDeviceLookup().bindings(for: wanted)
                } catch {
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: error.message)
                }
            }
            context.hostDeviceBindings = try withHostDevicePasswords(context.hostDeviceBindings, of: definition)
        }
        let nvmeControllers = definition.devices.disks.compactMap(\.nvme)
        if !nvmeControllers.isEmpty {
            // An NVMe disk's controller is QEMU's through VFIO, as a PCI host device is (libvirt
            // prepares it as one): the same checks, off the event loops.
            try await BlockingWork.run { () throws(RemoteError) in
                for nvme in nvmeControllers {
                    do throws(HostDeviceLookup.Failure) {
                        try HostDeviceLookup().checkPCI(nvme.controller, managed: nvme.managed != false)
                    } catch {
                        throw RemoteError(code: .configUnsupported, domain: .qemu, detail: error.message)
                    }
                }
            }
        }
        if !definition.memoryBacking.hugePages.isEmpty { context.hugePages = try await BlockingWork.run { HostHugePages.read() } }
        // Every host NUMA node the memory is bound to must exist (libvirt's
        // virNumaNodesetIsAvailable), checked before QEMU or the control group is asked.
        let boundNodes = (definition.numaTune.map { [$0.nodeset].compactMap { $0 } + $0.cellNodes.values.map(\.nodeset) } ?? [])
            .reduce(into: Set<Int>()) { $0.formUnion($1.cpus) }
        if !boundNodes.isEmpty, let missing = boundNodes.subtracting(try await BlockingWork.run { NUMAParameters.hostNUMANodes() }).min() {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "NUMA node \(missing) is unavailable")
        }
        if definition.devices.graphics.contains(where: { $0.rendersWithOpenGL && $0.renderNode == nil }) {
            // An OpenGL display without a render node renders on the host's first, as libvirt's.
            guard let node = try await BlockingWork.run({ HostRenderNodes.first() }) else {
                throw RemoteError(code: .internalError, domain: .none, detail: "No DRM render nodes available")
            }
            context.renderNode = node
        }
        context.incomingMigration = incoming != nil
        context.loadSnapshot = loadSnapshot
        let needsVNC = definition.devices.graphics.contains { $0.type == .vnc && $0.autoport && $0.listenSocket == nil }
        // A SPICE server's plaintext and TLS ports, as libvirt chooses which it needs (a TLS
        // port only when SPICE may use TLS: else the command line refuses the server).
        let spiceTLS = configuration.spiceTLS.enabled
        let spiceNeeds = definition.devices.graphics.first { $0.type == .spice }?.spicePortsToChoose(tls: spiceTLS) ?? (port: false, tlsPort: false)
        let needsSPICE = spiceNeeds.port, needsSPICETLS = spiceNeeds.tlsPort && spiceTLS
        if spiceTLS { context.spiceTLSDirectory = configuration.spiceTLS.certificateDirectory }
        // Ports chosen here are the daemon's until this start ends (QEMU has bound them by then).
        var chosenPorts: Set<Int> = []
        defer { graphicsPortsStarting.subtract(chosenPorts) }
        if needsVNC || needsSPICE || needsSPICETLS {
            // Probing ports binds sockets: off the event loops.
            let taken = graphicsPortsStarting
            let count = (needsVNC ? 1 : 0) + (needsSPICE ? 1 : 0) + (needsSPICETLS ? 1 : 0)
            var ports = (try? await BlockingWork.run { Self.freeGraphicsPorts(count: count, excluding: taken) }) ?? []
            chosenPorts.formUnion(ports)
            graphicsPortsStarting.formUnion(ports)
            if needsVNC { context.vncDisplay = ports.isEmpty ? 0 : ports.removeFirst() - Self.firstGraphicsPort }
            if needsSPICE { context.spicePort = ports.isEmpty ? Self.firstGraphicsPort : ports.removeFirst() }
            if needsSPICETLS { context.spiceTLSPort = ports.first ?? Self.firstGraphicsPort + 1 }
        }
        // A VNC WebSocket listener on a port chosen now (`websocket='-1'`), from 5700 up.
        if definition.devices.graphics.contains(where: { $0.type == .vnc && $0.websocket == -1 && $0.listenSocket == nil }) {
            let taken = graphicsPortsStarting
            let port = (try? await BlockingWork.run { Self.freeGraphicsPorts(count: 1, from: Self.firstWebsocketPort, excluding: taken) })?.first
            chosenPorts.formUnion(port.map { [$0] } ?? [])
            graphicsPortsStarting.formUnion(port.map { [$0] } ?? [])
            context.vncWebsocketPort = port ?? Self.firstWebsocketPort
        }
        let longestSocket = PassthroughMonitor.socketPath(runDirectory: directory, index: definition.qemu.passthroughMonitorCount - 1)
        guard longestSocket.utf8.count < 108 else {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "the monitor socket path \(longestSocket) is longer than a Unix socket path may be; use a shorter --run-dir or domain name")
        }
        // The interfaces' taps and network ports; undone if anything fails before QEMU runs.
        context.interfaceConnections = try await connectInterfaces(definition)
        let connections = Array(context.interfaceConnections.values)
        // The macvtaps' tap descriptors, which QEMU inherits after the vsock's (3, then 4, …);
        // the daemon's copies close once QEMU has been spawned, or the start failed.
        let tapDescriptors = Self.handOverTapDescriptors(&context, firstNumber: definition.devices.vsock == nil ? 3 : 4)
        defer { for descriptor in tapDescriptors { close(descriptor) } }
        // The vsock's vhost device with its context ID bound, which QEMU takes over as fd 3.
        var vsockDescriptor: Int32?
        if let vsock = definition.devices.vsock {
            do throws(RemoteError) {
                let acquired = try await BlockingWork.run { () throws(RemoteError) -> (descriptor: Int32, cid: UInt32) in
                    do throws(VhostVsock.Failure) {
                        return try VhostVsock.acquire(vsock)
                    } catch {
                        throw RemoteError(code: .configUnsupported, domain: .qemu, detail: error.message)
                    }
                }
                vsockDescriptor = acquired.descriptor
                context.vsock = (cid: acquired.cid, descriptor: 3)
            } catch {
                await disconnectInterfaces(connections)
                throw error
            }
        }
        defer { if let vsockDescriptor { close(vsockDescriptor) } }
        // An emulated TPM's swtpm, before QEMU connects to it; it ends when QEMU closes its socket.
        let tpmEmulator: pid_t?
        do throws(RemoteError) {
            tpmEmulator = try await startTPMEmulator(definition, context: context)
        } catch {
            await disconnectInterfaces(connections)
            throw error
        }
        // virtiofsd for each virtiofs share, listening before QEMU connects; each ends when QEMU
        // closes its socket.
        let shareDaemons: [WatchedProcess], virtioFSBinary: String?
        do throws(RemoteError) {
            (shareDaemons, virtioFSBinary) = try await startVirtioFSDaemons(definition, context: context)
            context.virtioFSBinary = virtioFSBinary
        } catch {
            if let tpmEmulator { kill(tpmEmulator, SIGTERM) }
            await disconnectInterfaces(connections)
            throw error
        }
        // The helpers and files made for QEMU, should QEMU not run after all.
        var overlays: [TransientOverlays.Planned] = []
        func stopHelpers() {
            if let tpmEmulator { kill(tpmEmulator, SIGTERM) }
            for process in shareDaemons { process.signal(SIGTERM) }
            if !overlays.isEmpty { TransientOverlays.remove(overlays.map(\.overlay)) }
        }
        // Transient disks' overlays, which QEMU opens on top of their images (none is left
        // when making one fails).
        do throws(RemoteError) {
            let planned = try TransientOverlays.plan(definition.devices.disks, domainName: definition.name)
            if !planned.isEmpty {
                try await BlockingWork.run { () throws(RemoteError) in try TransientOverlays.create(planned) }
            }
            overlays = planned
        } catch {
            stopHelpers()
            await disconnectInterfaces(connections)
            throw error
        }
        let (pid, logStart, invocation): (pid_t, off_t, QEMUInvocation)
        do throws(RemoteError) {
            (pid, logStart, invocation) = try await prepareAndLaunch(
                definition, context: context, name: record.name, id: id, directory: directory, passing: (vsockDescriptor.map { [$0] } ?? []) + tapDescriptors)
        } catch {
            stopHelpers()
            await disconnectInterfaces(connections)
            throw error
        }
        let process: WatchedProcess
        do throws(SystemError) {
            process = try ProcessReaper.shared.watch(pid, isChild: true)
        } catch {
            kill(pid, SIGKILL)
            stopHelpers()
            await disconnectInterfaces(connections)
            throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot watch the QEMU process: \(error)")
        }
        do throws(RemoteError) {
            return try await finishStart(
                uuid, record: record, definition: definition, context: context, invocation: invocation, id: id, pid: pid, logStart: logStart, process: process,
                paused: paused, autodestroyConnection: autodestroyConnection, live: live, incoming: incoming, loadSnapshot: loadSnapshot, origin: origin,
                started: (xml, startDocument, startCPU))
        } catch {
            stopHelpers()
            throw error
        }
    }

    /// Starts the swtpm of the definition's emulated TPM, if it has one (off the event loops);
    /// its pid.
    private func startTPMEmulator(_ definition: DomainDefinition, context: CommandLineContext) async throws(RemoteError) -> pid_t? {
        for tpm in definition.devices.tpms where tpm.backend == .passthrough {
            let path = tpm.path ?? "/dev/tpm0"
            guard access(path, R_OK | W_OK) == 0 else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "Could not open TPM device \(path): \(String(cString: strerror(errno)))")
            }
        }
        guard let tpm = definition.devices.tpms.first(where: { $0.backend == .emulator }) else { return nil }
        let name = definition.name, uuid = definition.uuid, state = configuration.stateDirectory
        let socket = context.tpmEmulatorSocket, directory = context.runDirectory
        // An incoming guest's TPM state comes with it, its PCR banks as they were (libvirt's rule).
        let reconfigures = !context.incomingMigration
        // The secret that encrypts the state (a vTPM secret, as libvirt looks it up).
        let secret = try tpm.encryptionSecret.map { uuid throws(RemoteError) in
            guard let secrets else { throw RemoteError(code: .noSupport, domain: .secret, detail: "no secret driver") }
            return try secrets.valueForGuest(uuid: uuid, usage: nil, usageType: .vtpm)
        }
        return try await BlockingWork.run { () throws(RemoteError) -> pid_t in
            do throws(TPMEmulator.Failure) {
                return try TPMEmulator.start(
                    tpm, name: name, uuid: uuid, stateDirectory: state, socket: socket, runDirectory: directory, reconfigures: reconfigures, secret: secret)
            } catch {
                throw RemoteError(code: .internalError, domain: .qemu, detail: error.message)
            }
        }
    }

    /// Starts the virtiofsd of each virtiofs share the daemon serves (off the event loops).
    private func startVirtioFSDaemons(_ definition: DomainDefinition, context: CommandLineContext) async throws(RemoteError) -> ([WatchedProcess], String?) {
        guard !VirtioFSDaemons.shares(of: definition).isEmpty else { return ([], nil) }
        return try await BlockingWork.run { () throws(RemoteError) -> ([WatchedProcess], String?) in
            do throws(VirtioFSDaemons.Failure) {
                return try VirtioFSDaemons.start(for: definition, context: context)
            } catch {
                throw RemoteError(code: .internalError, domain: .qemu, detail: error.message)
            }
        }
    }

    /// Builds QEMU's command line for `definition`, checks it against the emulator, and spawns QEMU.
    private func prepareAndLaunch(
        _ definition: DomainDefinition, context: CommandLineContext, name: String, id: Int32, directory: String, passing: [Int32] = []
    ) async throws(RemoteError) -> (pid_t, off_t, QEMUInvocation) {
        let invocation: QEMUInvocation
        do throws(CommandLineError) {
            invocation = try QEMUCommandLineBuilder.build(definition, context: context)
        } catch {
            throw RemoteError(code: error.kind == .unsupported ? .configUnsupported : .internalError, domain: .qemu, detail: error.message)
        }
        let emulator = emulators.serving(definition.devices.emulator)
        if !emulator.deviceTypes.isEmpty {
            // Every device Corral generates must exist in this emulator (the probe listed them).
            for option in invocation.options where option.name == "-device" {
                guard case .json? = option.argument, let driver = option.argument?.driver else { continue }
                if !emulator.deviceTypes.contains(driver) {
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "the emulator \(emulator.path) has no device type '\(driver)'")
                }
            }
        }
        if !emulator.objectTypes.isEmpty {
            // So must every object type (some, such as cryptodev-backend-lkcf, depend on the build).
            for option in invocation.options where option.name == "-object" {
                guard let type = option.argument?.objectType, !emulator.objectTypes.contains(type) else { continue }
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "the emulator \(emulator.path) has no object type '\(type)'")
            }
        }
        if let sections = invocation.configFile, !emulator.configGroups.isEmpty {
            for problem in sections.problems(knownGroups: emulator.configGroups) {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "configuration section \(problem)")
            }
        }
        // Files and the spawn block (disk, fork): off the event loops.
        let configFilePath = context.configFilePath
        let (pid, logStart) = try await runtimeFiles.run { () throws(RemoteError) -> (pid_t, off_t) in
            try Self.launch(invocation, name: name, id: id, directory: directory, configFilePath: configFilePath, passing: passing)
        }
        return (pid, logStart, invocation)
    }

    /// A start once QEMU runs: its control group, monitor, the definition's settings, vCPUs,
    /// and the guest's record and events. A failure kills QEMU and undoes the interfaces.
    private func finishStart(
        _ uuid: RemoteUUID, record: DomainRecord, definition: DomainDefinition, context: CommandLineContext, invocation: QEMUInvocation, id: Int32,
        pid: pid_t, logStart: off_t, process: WatchedProcess, paused: Bool, autodestroyConnection: UInt64?, live: ParsedDomain?,
        incoming: IncomingMigration?, loadSnapshot: String?, origin: (started: LifecycleEvent.StartedDetail, running: DomainStatus.RunningReason),
        started document: (xml: String, parsed: ParsedDomain?, cpu: XMLTree.XMLElement?)
    ) async throws(RemoteError) -> RemoteDomain {
        let (xml, readBefore, startCPU) = document
        let startDocument = readBefore ?? (try? DomainXMLParser.parse(xml, options: startDocumentOptions))
        let name = record.name, directory = runDirectory(for: record.name), logPath = directory + "/qemu.log"
        let connections = Array(context.interfaceConnections.values)

        // The guest's control group, and the definition's tunables in it, before it runs. Set up
        // while QEMU initialises and the monitor is awaited: on cgroup v1 the first move into a
        // group waits for an RCU grace period (~10 ms here), time QEMU spends starting anyway.
        let layout = cgroups, tuned = definition
        let cgroupSetUp = Task { () -> Result<GuestCgroup?, RemoteError> in
            do throws(RemoteError) {
                return .success(try await BlockingWork.run { () throws(RemoteError) -> GuestCgroup? in
                    try GuestTunables.setUp(layout: layout, name: name, id: id, pid: pid, definition: tuned)
                })
            } catch {
                return .failure(error)
            }
        }

        // Wait for the daemon's monitor: QEMU creates the socket once its command line is parsed.
        let qmp: QMPClient
        let deadline = Date().addingTimeInterval(30)
        var lastError = ""
        var connected: QMPClient?
        while connected == nil {
            if process.hasExited || Date() > deadline { break }
            // A connect before the socket exists fails at once (no file): no stat needed.
            do throws(QMPError) {
                connected = try await QMPClient.connect(unixSocket: context.qmpSocket)
            } catch {
                lastError = error.message
            }
            if connected == nil { try? await Task.sleep(for: .milliseconds(1)) }
        }
        let cgroup: GuestCgroup?
        switch await cgroupSetUp.value {
        case .success(let group):
            cgroup = group
        case .failure(let error):
            await connected?.close()
            _ = await abandonStart(process, directory: directory, cgroup: GuestCgroup(layout: layout, name: name, id: id), logPath: logPath, logStart: logStart, connections: connections)
            throw error
        }
        guard let connected else {
            let output = await abandonStart(process, directory: directory, cgroup: cgroup, logPath: logPath, logStart: logStart, connections: connections)
            let why = output.isEmpty ? (lastError.isEmpty ? "QEMU did not open its monitor in time" : lastError) : output
            throw RemoteError(code: .internalError, domain: .qemu, detail: "qemu unexpectedly closed the monitor: \(why)")
        }
        qmp = connected
        // Disks' I/O limits: QEMU's throttling, set before the guest runs (libvirt's way with
        // -blockdev).
        for (index, disk) in definition.devices.disks.enumerated() where disk.hasMedium {
            guard let tune = disk.ioTune, !tune.isEmpty else { continue }
            do throws(RemoteError) {
                try await BlockTuningProcedures.apply(tune, to: invocation.devices.disks[index].qomName, qmp: qmp)
            } catch {
                _ = await abandonStart(process, directory: directory, cgroup: cgroup, logPath: logPath, logStart: logStart, connections: connections)
                throw error
            }
        }
        // Graphics passwords, set before the guest runs (as libvirt does), then when they expire
        // (`passwdValidTo`; an empty or past one at once); a guest whose password cannot be set
        // is not run without it.
        for server in definition.devices.graphics where server.type == .vnc || server.type == .spice {
            guard let password = server.password else { continue }
            let expiry = Self.passwordExpiry(password: password, validTo: server.passwordValidTo, now: Int64(Date().timeIntervalSince1970))
            do throws(QMPError) {
                var arguments: [(String, JSONValue)] = [("protocol", .string(server.type.rawValue)), ("password", .string(password))]
                if let connected = server.connectedClients { arguments.append(("connected", .string(connected.rawValue))) }
                _ = try await qmp.execute("set_password", arguments: .object(arguments))
                _ = try await qmp.execute("expire_password", arguments: .object([("protocol", .string(server.type.rawValue)), ("time", .string(expiry))]))
            } catch {
                _ = await abandonStart(process, directory: directory, cgroup: cgroup, logPath: logPath, logStart: logStart, connections: connections)
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot set the \(server.type.rawValue) password: \(error)")
            }
        }
        // Interfaces whose link starts down (libvirt sets them before the guest runs).
        for (index, interface) in definition.devices.interfaces.enumerated() where !interface.linkUp {
            _ = try? await qmp.execute("set_link", arguments: .object([("name", .string(invocation.devices.interfaces[index].alias)), ("up", .bool(false))]))
        }
        // Enabled hotpluggable vCPUs of <vcpus>, plugged in before the guest runs (and before
        // an incoming migration, whose source has them).
        do throws(RemoteError) {
            try await Self.plugStartupVcpus(definition, qmp: qmp)
        } catch {
            _ = await abandonStart(process, directory: directory, cgroup: cgroup, logPath: logPath, logStart: logStart, connections: connections)
            throw error
        }
        if let incoming {
            do throws(RemoteError) {
                switch incoming {
                case .stream(let stream): try await Self.loadIncoming(stream, qmp: qmp, tracking: (longJobs, uuid))
                case .network(let setup): try await Self.listenForMigration(setup, qmp: qmp)
                }
            } catch {
                let output = await abandonStart(process, directory: directory, cgroup: cgroup, logPath: logPath, logStart: logStart, connections: connections)
                await qmp.close()
                throw output.isEmpty ? error : RemoteError(code: error.code, domain: error.domain, detail: "\(error.str2 ?? ""): \(output)")
            }
        }
        // The vCPU and I/O threads, asked for while the guest is still paused (QEMU answers at
        // once; a running TCG vCPU holds QEMU's lock and slows the answer by milliseconds), then
        // pinned and grouped as the definition says before they run (libvirt's order).
        let vcpus = try? await GuestStatistics.query(qmp, "query-cpus-fast")
        let vcpuThreads = vcpus.map(GuestStatistics.vcpuThreads(queryCPUsFast:))
        if let threads = vcpuThreads {
            let ioThreads = definition.ioThreadIDs.isEmpty ? [:] : (try? await GuestStatistics.ioThreads(qmp)) ?? [:]
            do throws(RemoteError) {
                try ThreadPinning.applyDefinition(definition, pid: pid, vcpuThreads: threads, ioThreads: ioThreads)
            } catch {
                logger.warning("cannot pin the guest's threads as its definition says", metadata: ["name": "\(record.name)", "error": "\(error)"])
            }
            // libvirt's per-thread groups, with the definition's per-thread bandwidths; a guest
            // whose bandwidth cannot be set is not left running without it. Made only when the
            // definition asks for a per-thread bandwidth (else on the first `schedinfo` that
            // does): each group costs the start a few writes and the end an RCU-slow rmdir.
            let tune = definition.cpuTune
            if let cgroup, cgroup.directories[.cpu] != nil, !(tune.vcpuBandwidth.isEmpty && tune.emulatorBandwidth.isEmpty && tune.ioThreadBandwidth.isEmpty) {
                do throws(RemoteError) {
                    try await BlockingWork.run { () throws(RemoteError) in
                        try cgroup.makeThreadGroups(pid: pid, vcpuThreads: threads, ioThreads: ioThreads)
                        try GuestTunables.applyThreadBandwidths(tune, to: cgroup)
                    }
                } catch {
                    _ = await abandonStart(process, directory: directory, cgroup: cgroup, logPath: logPath, logStart: logStart, connections: connections)
                    throw error
                }
            }
        }
        // The live <cpu>: what QEMU made of the vCPU, read before it runs (libvirt's
        // qemuProcessUpdateAndVerifyCPU); a `check='full'` CPU not made as asked fails the start.
        var liveCPU: (asked: XMLTree.XMLElement, made: XMLTree.XMLElement)?
        if let map = GuestCPUFeatures.map, let cpu = startCPU {
            let asked = LiveCPUUpdate.disablingRemovedFeatures(LiveDomainXML.forbiddingFallback(cpu), map: map)
            var made = asked
            if let vcpu = await GuestCPUFeatures.vcpu(of: invocation, qmp, cpus: vcpus) {
                do throws(LiveCPUUpdate.Mismatch) {
                    made = try LiveCPUUpdate.updated(asked, enabled: vcpu.enabled, disabled: vcpu.disabled, map: map) ?? asked
                } catch {
                    _ = await abandonStart(process, directory: directory, cgroup: cgroup, logPath: logPath, logStart: logStart, connections: connections)
                    await qmp.close()
                    throw RemoteError(code: .operationFailed, domain: .cpu, detail: error.description)
                }
            }
            liveCPU = (asked, made)
        }
        // <perf>'s host counters on QEMU, opened before the vCPUs run (libvirt: at start, a
        // counter that cannot be opened fails the start).
        let perfCounters: PerfCounters
        do throws(RemoteError) {
            perfCounters = try PerfCounters.open(definition.perf.enabled, pid: pid)
        } catch {
            _ = await abandonStart(process, directory: directory, cgroup: cgroup, logPath: logPath, logStart: logStart, connections: connections)
            throw error
        }
        if !paused {
            do throws(QMPError) {
                try await qmp.cont()
            } catch {
                _ = await abandonStart(process, directory: directory, cgroup: cgroup, logPath: logPath, logStart: logStart, connections: connections)
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot start the vCPUs: \(error)")
            }
        }
        let pausedReason: DomainStatus.PausedReason
        switch incoming {
        case .network?: pausedReason = .migration
        default: pausedReason = loadSnapshot == nil ? .user : .fromSnapshot
        }
        var devices = invocation.devices
        // Pseudo-terminals' paths, and which virtio channels the guest has open (none yet for a
        // fresh start; a restored or migrated guest's may be).
        let chardevs = devices.characterDevices.contains(where: { $0.type == .pty || $0.role == .channel }) ? await Self.queryChardevs(qmp) : [:]
        Self.assignPseudoTerminals(&devices, chardevs)
        // A variable clock's live adjustment is from UTC (libvirt converts one from local time).
        let clockAdjustment = context.clockReference.adjustmentFromUTC(of: definition.clock)
        var defaultListenGraphics: Set<Int> = []
        let liveXML = startDocument.map {
            var document = LiveDomainXML.decorate(
                $0.document, devices: devices, vncDisplay: context.vncDisplay, spicePort: context.spicePort, spiceTLSPort: context.spiceTLSPort, vsockCID: context.vsock?.cid, vncSocket: context.vncSocket,
                vncWebsocket: context.vncWebsocketPort)
            if let clockAdjustment { LiveDomainXML.setClockAdjustment(&document, clockAdjustment) }
            defaultListenGraphics = LiveDomainXML.fillDefaultListenAddresses(&document)
            if let liveCPU { LiveDomainXML.replaceCPU(&document, with: liveCPU.made) } else { LiveDomainXML.forbidCPUFallback(&document) }
            if let binary = context.virtioFSBinary { LiveDomainXML.nameVirtioFSBinary(&document, binary) }
            if let node = context.renderNode { LiveDomainXML.nameRenderNode(&document, node) }
            LiveDomainXML.setChannelStates(&document, devices: devices, open: chardevs.compactMapValues(\.frontendOpen))
            return DomainXMLFormatter.format(document, id: Int(id))
        } ?? xml
        let taints = invocation.taints.map(\.rawValue)
        let runtime = GuestRuntime(
            id: id, pid: pid, process: process, qmp: qmp,
            passthroughSessions: Array(repeating: nil, count: definition.qemu.passthroughMonitorCount), runDirectory: directory,
            lifecycle: GuestLifecycle(policy: .init(definition), status: paused ? .paused(pausedReason) : .running(origin.running)),
            autodestroyConnection: autodestroyConnection, agentSocket: Self.agentSocket(definition, runDirectory: directory), taints: taints,
            liveXML: liveXML, devices: devices, vcpuCount: definition.currentVcpus, vcpuMaximum: definition.vcpus, cgroup: cgroup)
        var started = runtime
        started.perfCounters = perfCounters
        started.clockAdjustmentAtStart = clockAdjustment
        started.chosenWebsocketPort = context.vncWebsocketPort
        started.detectedChains = BackingChainCheck.remembered(definition)
        started.defaultListenGraphics = defaultListenGraphics
        // The CPU as asked is kept for what leaves the host only when QEMU made another
        // (libvirt's origCPU, stored when the live update changed more than `check`).
        started.askedCPU = liveCPU.flatMap { SaveCookie.madeOtherThanAsked($0.made, $0.asked) ? $0.asked : nil }
        // What statistics need and does not change: the vCPU threads; the balloon starts full
        // and QEMU polls no statistics until told to.
        started.vcpuThreads = vcpuThreads
        started.balloonKiB = runtime.devices.balloon == nil ? nil : definition.memoryKiB
        started.balloonStatisticsPeriod = 0
        if let balloon = runtime.devices.balloon, let period = definition.devices.memballoon?.statisticsPeriod, period > 0 {
            // `<stats period>`: the guest starts reporting (libvirt sets it as the guest starts).
            let path = "/machine/peripheral/\(balloon)"
            if (try? await qmp.execute("qom-set", arguments: .object([
                ("path", .string(path)), ("property", .string("guest-stats-polling-interval")), ("value", .number(JSONNumber(Int64(period)))),
            ]))) != nil {
                started.balloonStatisticsPeriod = Int32(period)
            }
        }
        let updated = registry.updateRuntime(uuid) { r in r.runtime = started }
        let handle = updated?.handle ?? RemoteDomain(name: record.name, uuid: uuid, id: id)
        writeStatus(uuid)
        for taint in taints { logger.warning("Domain id=\(id) name='\(record.name)' uuid=\(uuid) is tainted: \(taint)") }
        events.lifecycle(handle, .started(origin.started))
        if paused, !incoming.isNetwork {
            events.lifecycle(handle, loadSnapshot != nil ? .suspendedFromSnapshot : incoming?.reportsRestoredPause == true ? .suspendedAfterRestore : .suspended())
        }
        supervise(uuid, qmp: qmp)
        logger.info("started domain", metadata: ["name": "\(record.name)", "id": "\(id)", "pid": "\(pid)"])
        return handle
    }

    /// A start that failed once QEMU was spawned: QEMU is killed, its run directory and control
    /// group removed; returns what QEMU logged since this start (its reason, when it gave one).
    private func abandonStart(
        _ process: WatchedProcess, directory: String, cgroup: GuestCgroup?, logPath: String, logStart: off_t,
        connections: [CommandLineContext.InterfaceConnection] = []
    ) async -> String {
        process.signal(SIGKILL)
        _ = await process.waitForExit(timeout: .seconds(2))
        await disconnectInterfaces(connections)
        if let cgroup { runtimeFiles.enqueue { cgroup.remove() } }
        return (try? await runtimeFiles.run { () -> String in
            defer { Self.removeRuntimeFiles(directory) }
            return Self.logTail(logPath, from: logStart)
        }) ?? ""
    }

    /// `DOMAIN_CREATE_XML`: a transient domain, gone when it stops.
    /// The caller holds the job of the domain's name.
    ///
    /// libvirt's rule for a name and UUID that are both those of a defined domain: an inactive
    /// one starts with this definition for this run only (it stays persistent, and its own
    /// definition applies again after); an active one is refused.
    func createTransient(_ parsed: ParsedDomain, paused: Bool, autodestroyConnection: UInt64?) async throws(RemoteError) -> RemoteDomain {
        if let uuid = RemoteUUID(parsed.definition.uuid), let existing = registry.record(uuid: uuid), existing.name == parsed.definition.name {
            guard !existing.isActive else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain '\(existing.name)' is already active")
            }
            return try await start(uuid, paused: paused, autodestroyConnection: autodestroyConnection, live: parsed)
        }
        let record = try registry.addTransient(parsed)
        do throws(RemoteError) {
            return try await start(record.uuid, paused: paused, autodestroyConnection: autodestroyConnection)
        } catch {
            registry.removeIfTransient(record.uuid)
            throw error
        }
    }

    /// Fills in the pseudo-terminal QEMU opened for each `pty` character device
    /// (`query-chardev` reports `pty:/dev/pts/N` under the chardev's id).
    static func assignPseudoTerminals(_ devices: inout GuestDevices, qmp: QMPClient) async {
        assignPseudoTerminals(&devices, await queryChardevs(qmp))
    }

    /// What `query-chardev` says of each chardev, by id: a pseudo-terminal's path, and whether
    /// the guest has its side open (`frontend-open`).
    static func queryChardevs(_ qmp: QMPClient) async -> [String: (ptyPath: String?, frontendOpen: Bool?)] {
        guard let reply = try? await qmp.execute("query-chardev"), case .array(let chardevs) = reply else { return [:] }
        var reports: [String: (ptyPath: String?, frontendOpen: Bool?)] = [:]
        for chardev in chardevs {
            guard let label = chardev["label"]?.stringValue else { continue }
            let filename = chardev["filename"]?.stringValue
            let open: Bool? = if case .bool(let value)? = chardev["frontend-open"] { value } else { nil }
            reports[label] = (filename.flatMap { $0.hasPrefix("pty:") ? String($0.dropFirst(4)) : nil }, open)
        }
        return reports
    }

    static func assignPseudoTerminals(_ devices: inout GuestDevices, _ chardevs: [String: (ptyPath: String?, frontendOpen: Bool?)]) {
        for index in devices.characterDevices.indices where devices.characterDevices[index].type == .pty {
            devices.characterDevices[index].path = chardevs[devices.characterDevices[index].chardev]?.ptyPath
        }
    }

    /// Prepares the domain's run directory (configuration file, log header) and spawns QEMU;
    /// returns its pid and where this run's lines start in the log. Blocking: call off the loops.
    /// `passing`: descriptors QEMU gets as 3, 4, … (the vsock's vhost device).
    nonisolated static func launch(
        _ invocation: QEMUInvocation, name: String, id: Int32, directory: String, configFilePath: String, passing: [Int32] = []
    ) throws(RemoteError) -> (pid_t, off_t) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot create \(directory): \(error)")
        }
        Self.removeRuntimeFiles(directory, keepingHelpers: true)
        if let sections = invocation.configFile {
            do throws(StoreError) {
                let text: String
                do throws(QEMUConfigError) {
                    text = try QEMUConfigWriter.write(sections)
                } catch {
                    throw StoreError(message: error.description)
                }
                try DefinitionStore.atomicWrite(path: configFilePath, contents: Array(text.utf8), durable: false)
            } catch {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot write the configuration file: \(error.message)")
            }
        }

        for secret in invocation.secretFiles {
            do throws(StoreError) {
                try DefinitionStore.atomicWrite(path: secret.path, contents: secret.contents, durable: false)
            } catch {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot write a secret for QEMU: \(error.message)")
            }
        }
        let logPath = directory + "/qemu.log"
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot open \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(log) }
        let logStart = lseek(log, 0, SEEK_END)
        var header = "\(Self.timestamp()): starting up corral, domain \(name) id=\(id)\n\(invocation.shellCommandLine)\n"
        for taint in invocation.taints { header += "\(Self.timestamp()): Domain id=\(id) is tainted: \(taint.rawValue)\n" }
        _ = header.withCString { write(log, $0, strlen($0)) }

        do throws(ProcessLauncher.LaunchError) {
            let pid = try ProcessLauncher.spawn(
                executable: invocation.executable, arguments: invocation.arguments, environment: invocation.environment, log: log, passing: passing)
            Self.writeLibvirtPidFile(directory, pid: pid)
            return (pid, logStart)
        } catch {
            Self.removeRuntimeFiles(directory)
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: error.description)
        }
    }

    nonisolated func makeContext(id: Int32, directory: String, definition: DomainDefinition) -> CommandLineContext {
        let emulator = emulators.serving(definition.devices.emulator)
        var context = CommandLineContext(
            emulator: emulator.path, capabilities: emulator.qemuCapabilities, kvmUsable: emulator.kvmUsable, id: id, runDirectory: directory,
            privileged: getuid() == 0, passthroughEnvironment: ProcessInfo.processInfo.environment)
        context.vhostNetAvailable = emulator.kvmUsable && access("/dev/vhost-net", R_OK | W_OK) == 0
        context.characterDeviceTLS = configuration.characterDeviceTLS
        context.networkDiskTLS = configuration.networkDiskTLS
        return context
    }

    // MARK: - Supervision

    private func supervise(_ uuid: RemoteUUID, qmp: QMPClient) {
        Task {
            for await event in qmp.events { await self.handle(event, for: uuid) }
            // Only the run this session belonged to: a destroy may have cleaned it up already
            // and a new run begun.
            await self.guestExited(uuid, session: qmp)
        }
    }

    /// A QMP event from the daemon's session: forwarded to monitor-event clients, then given to
    /// the guest's lifecycle, whose actions are carried out here.
    func handle(_ event: QMPEvent, for uuid: RemoteUUID) async {
        guard let record = registry.record(uuid: uuid), record.isActive else { return }
        let handle = record.handle
        // Every QMP event, as it came, to the clients that asked for monitor events: `details` is
        // the `data` member as compact JSON, absent when QEMU sent none (libvirt's rule).
        if events.hasMonitorRegistrations {
            let seconds = event.raw["timestamp"]?["seconds"] == nil ? -1 : event.seconds
            events.monitorEvent(handle, name: event.name, seconds: seconds, micros: UInt32(clamping: event.microseconds), details: event.raw["data"]?.description)
        }
        let lifecycleEvent: GuestLifecycle.Event
        switch event.name {
        case "STOP": lifecycleEvent = .stopped
        case "RESUME": lifecycleEvent = .resumed
        case "SHUTDOWN": lifecycleEvent = .shutdown(byGuest: event.data["guest"]?.boolValue)
        case "RESET": lifecycleEvent = .reset
        case "GUEST_PANICKED": lifecycleEvent = .panicked
        case "BALLOON_CHANGE":
            if let actual = event.data["actual"]?.uint64Value {
                // As libvirt: the live XML's current memory is what the balloon leaves.
                registry.updateGuest(uuid) { guest in
                    guest.balloonKiB = actual / 1024
                    guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { MemoryProcedures.setElement(&$0, "currentMemory", actual / 1024) }
                }
                writeStatus(uuid)
                events.balloonChanged(handle, actualKiB: actual / 1024)
            }
            return
        case "DEVICE_DELETED", "DEVICE_UNPLUG_GUEST_ERROR":
            // Only devices with an id (not their internal parts, reported by path alone).
            if let alias = event.data["device"]?.stringValue, !alias.isEmpty {
                deviceUnplugReported(alias: alias, rejected: event.name == "DEVICE_UNPLUG_GUEST_ERROR", of: record)
            } else if event.name == "DEVICE_DELETED", let alias = Self.unpluggedVcpu(path: event.data["path"]?.stringValue) {
                deviceUnplugReported(alias: alias, rejected: false, of: record)
            }
            return
        case "VSERPORT_CHANGE":
            if let alias = event.data["id"]?.stringValue, let open = event.data["open"]?.boolValue { serialPortChanged(alias: alias, open: open, of: record) }
            return
        case "VNC_CONNECTED", "VNC_INITIALIZED", "VNC_DISCONNECTED":
            GraphicsEvents.forward(event, domain: handle, events: events)
            return
        case "MIGRATION_PASS":
            // Only while a migration runs (libvirt's rule); `pass` counts from 1.
            if longJobs.running(uuid)?.operation == .migrationOut, let pass = event.data["pass"]?.intValue {
                events.migrationIteration(handle, iteration: Int32(clamping: pass))
            }
            return
        case "RTC_CHANGE":
            rtcChanged(offset: event.data["offset"]?.intValue ?? 0, of: record)
            return
        case "WATCHDOG":
            await watchdogFired(action: WatchdogEventAction(qemuName: event.data["action"]?.stringValue), of: record)
            return
        case "BLOCK_IO_ERROR":
            await ioErrorReported(event, of: record)
            return
        case "DEVICE_TRAY_MOVED":
            if let alias = event.data["id"]?.stringValue, !alias.isEmpty, let open = event.data["tray-open"]?.boolValue {
                trayMoved(alias: alias, open: open, of: record)
            }
            return
        default:
            return
        }
        await apply(lifecycleEvent, to: uuid)
    }

    /// The vCPU (`vcpuN`) whose local APIC a `DEVICE_DELETED` path names: QEMU 7.2 reports an
    /// x86 vCPU's unplug by its APIC (`/machine/peripheral/vcpu1/lapic`) and not by the vCPU.
    nonisolated static func unpluggedVcpu(path: String?) -> String? {
        guard let path, path.hasPrefix("/machine/peripheral/vcpu"), path.hasSuffix("/lapic") else { return nil }
        let alias = path.dropFirst("/machine/peripheral/".count).dropLast("/lapic".count)
        return alias.contains("/") ? nil : String(alias)
    }

    /// Gives `event` to the guest's lifecycle and carries out its actions in order.
    func apply(_ event: GuestLifecycle.Event, to uuid: RemoteUUID) async {
        var actions: [GuestLifecycle.Action] = []
        guard let record = registry.updateRuntime(uuid, { r in actions = r.runtime?.lifecycle.handle(event) ?? [] }), let guest = record.runtime
        else { return }
        // The record already holds the lifecycle's final status: one status file covers every
        // status change of this event.
        if actions.contains(where: { if case .setStatus = $0 { true } else { false } }) { writeStatus(record) }
        for action in actions {
            switch action {
            case .setStatus:
                break
            case .report(let lifecycleEvent):
                events.lifecycle(record.handle, lifecycleEvent)
            case .reportReboot:
                events.reboot(record.handle)
            case .resetAndContinue:
                try? await guest.qmp.systemReset()
                try? await guest.qmp.cont()
            case .quit:
                try? await guest.qmp.quit()
            }
        }
    }

    /// The daemon's monitor closed: QEMU has exited (or is about to). Clean up and report.
    /// With `session`, only if the guest still runs with that monitor session (not a later run).
    func guestExited(_ uuid: RemoteUUID, session: QMPClient? = nil) async {
        // The guest stays in its record until the clean-up is done, so a destroy waiting for it
        // to go cannot return (and a start cannot begin) half-way through.
        guard let guest = claimExit(uuid, session: session) else { return }
        for case let session? in guest.passthroughSessions { await session.close() }
        // Make sure the process is really gone before its files are removed.
        await Self.ensureEnded(guest, uuid: uuid, within: .seconds(3))
        // The lifecycle as it is now: a destroy may have been asked for meanwhile.
        let outcome = (registry.guest(uuid)?.lifecycle ?? guest.lifecycle).exitOutcome
        await releaseResources(of: guest)
        reportStopped(uuid, guest: guest, outcome: outcome)
    }

    /// Marks the guest's run as ending and returns it, unless its clean-up has begun already
    /// (or, with `session`, the guest runs with another monitor session: a later run).
    private func claimExit(_ uuid: RemoteUUID, session: QMPClient? = nil) -> GuestRuntime? {
        registry.updateGuest(uuid) { runtime -> GuestRuntime? in
            guard !runtime.exiting, session.map({ $0 === runtime.qmp }) ?? true else { return nil }
            runtime.exiting = true
            return runtime
        } ?? nil
    }

    /// What an ended QEMU leaves: its run files, control group and network connections.
    private func releaseResources(of guest: GuestRuntime) async {
        let directory = guest.runDirectory
        // Transient disks' overlays: the guest's writes go with it.
        let overlays = guest.devices.disks.compactMap(\.transientOverlay)
        runtimeFiles.enqueue {
            Self.removeRuntimeFiles(directory)
            TransientOverlays.remove(overlays)
        }
        // The control group is gone before the guest is reported stopped (as with libvirt): a
        // destroy that has returned leaves none behind, even on a loaded host.
        if let cgroup = guest.cgroup { _ = try? await runtimeFiles.run { cgroup.remove() } }
        await disconnectInterfaces(guest.devices.interfaces.compactMap(\.connection))
    }

    /// The guest no longer runs: its record says so, the stopped event goes out, and a
    /// transient domain goes.
    private func reportStopped(_ uuid: RemoteUUID, guest: GuestRuntime, outcome: (detail: LifecycleEvent.StoppedDetail, reason: DomainStatus.ShutoffReason)) {
        let record = registry.updateRuntime(uuid) { r in
            r.runtime = nil
            r.shutoffReason = outcome.reason
            r.updated = false
        }
        let name = record?.name ?? ""
        events.lifecycle(RemoteDomain(name: name, uuid: uuid, id: -1), .stopped(outcome.detail))
        // A transient domain goes when it stops, except when it stops for a revert to a
        // snapshot, which starts it again (a transient domain cannot halt for a snapshot).
        if outcome.detail != .fromSnapshot { registry.removeIfTransient(uuid) }
        appendLog(guest.runDirectory, "\(Self.timestamp()): shutting down, reason=\(outcome.reason)\n")
        logger.info("domain stopped", metadata: ["name": "\(name)", "reason": "\(outcome.detail)"])
    }

    /// A guest that has migrated away: its QEMU is killed and the guest reported stopped
    /// (migrated) at once; the returned remainder waits for the process to end (the kernel
    /// takes a while to free a large guest's memory) and clears what it leaves. The caller runs
    /// the remainder inside the domain's job, so nothing starts the domain again before it is
    /// done, but need not wait for it before answering.
    func stopMigratedAway(_ uuid: RemoteUUID) async throws(RemoteError) -> DomainJobs.Remainder {
        let guest = try running(uuid)
        await apply(.migratedAway, to: uuid)
        guard let process = guest.process, let claimed = claimExit(uuid) else {
            // A reattached guest (no process handle) or one already ending: the plain way.
            try await destroy(uuid, graceful: false, killAtOnce: true)
            return {}
        }
        process.signal(SIGKILL)
        reportStopped(uuid, guest: claimed, outcome: (.migrated, .migrated))
        return { [self] in
            _ = await process.waitForExit(timeout: .seconds(5))
            await claimed.qmp.close()
            for case let session? in claimed.passthroughSessions { await session.close() }
            await self.releaseResources(of: claimed)
        }
    }

    /// Waits up to `within` for the guest's QEMU to end (after SIGTERM when `terminate`), then
    /// kills it. A reattached guest without a pidfd falls back to checking `/proc`.
    private static func ensureEnded(_ guest: GuestRuntime, uuid: RemoteUUID, within timeout: Duration, terminate: Bool = false) async {
        if let process = guest.process {
            if terminate { process.signal(SIGTERM) }
            if await process.waitForExit(timeout: timeout) { return }
            process.signal(SIGKILL)
            _ = await process.waitForExit(timeout: .seconds(5))
            return
        }
        let isAlive = { () async -> Bool in
            (try? await BlockingWork.run { ProcessLauncher.isQEMU(pid: guest.pid, uuid: "\(uuid)") }) ?? false
        }
        if terminate, await isAlive() { kill(guest.pid, SIGTERM) }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, await isAlive() { try? await Task.sleep(for: .milliseconds(20)) }
        if await isAlive() { kill(guest.pid, SIGKILL) }
    }

    // MARK: - Operations on running guests

    /// Runs `body` in the job of the domain a client's `handle` names, with the domain's UUID as
    /// it is once the job is held (the domain may have changed while the call waited).
    nonisolated func inJob<T: Sendable>(
        _ handle: RemoteDomain, _ operation: String, _ body: @escaping @Sendable (RemoteUUID) async throws(RemoteError) -> T
    ) async throws(RemoteError) -> T {
        let name = try registry.record(for: handle).name
        return try await jobs.run(name, operation) { () async throws(RemoteError) -> T in try await body(try registry.record(for: handle).uuid) }
    }

    func running(_ uuid: RemoteUUID) throws(RemoteError) -> GuestRuntime {
        guard let record = registry.record(uuid: uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
        }
        guard let guest = record.runtime else {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
        }
        return guest
    }

    static func monitorError(_ error: QMPError) -> RemoteError {
        RemoteError(code: .operationFailed, domain: .qemu, detail: "monitor error: \(error)")
    }

    /// Stops QEMU: SIGTERM, then (unless graceful) SIGKILL if it lingers; returns once it is gone.
    /// `killAtOnce` sends SIGKILL straight away, for a QEMU whose guest state no longer matters
    /// (a guest that has migrated away: its images were flushed and handed over at the end of
    /// the migration).
    func destroy(_ uuid: RemoteUUID, graceful: Bool, killAtOnce: Bool = false) async throws(RemoteError) {
        let guest = try running(uuid)
        await apply(.destroyRequested, to: uuid)
        if killAtOnce, let process = guest.process {
            process.signal(SIGKILL)
            _ = await process.waitForExit(timeout: .seconds(5))
        } else if let process = guest.process {
            // libvirt's timings: 10 s for SIGTERM when graceful, 3 s before SIGKILL otherwise.
            process.signal(SIGTERM)
            let ended = await process.waitForExit(timeout: graceful ? .seconds(10) : .seconds(3))
            if graceful && !ended {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "failed to terminate process \(guest.pid) with SIGTERM: Device or resource busy")
            }
            if !ended {
                process.signal(SIGKILL)
                _ = await process.waitForExit(timeout: .seconds(5))
            }
        } else {
            await Self.ensureEnded(guest, uuid: uuid, within: graceful ? .seconds(10) : .seconds(3), terminate: true)
        }
        await guest.qmp.close()
        // The clean-up, here and now; if the supervisor (which notices the closed session) has
        // begun it already, wait for it to finish (bounded).
        await guestExited(uuid)
        for _ in 0..<5000 where registry.guest(uuid) != nil { try? await Task.sleep(for: .milliseconds(1)) }
    }

    func shutdown(_ uuid: RemoteUUID) async throws(RemoteError) {
        let guest = try running(uuid)
        do throws(QMPError) { try await guest.qmp.systemPowerdown() } catch { throw Self.monitorError(error) }
    }

    func reboot(_ uuid: RemoteUUID) async throws(RemoteError) {
        let guest = try running(uuid)
        await apply(.rebootRequested, to: uuid)
        do throws(QMPError) { try await guest.qmp.systemPowerdown() } catch { throw Self.monitorError(error) }
    }

    func reset(_ uuid: RemoteUUID) async throws(RemoteError) {
        let guest = try running(uuid)
        do throws(QMPError) { try await guest.qmp.systemReset() } catch { throw Self.monitorError(error) }
    }

    /// Stops the vCPUs. `reason` is `.migration` for a suspend while the guest migrates away
    /// (libvirt's reason then): the migration ends with the vCPUs stopped and a cancel runs them
    /// again.
    func suspend(_ uuid: RemoteUUID, reason: DomainStatus.PausedReason = .user) async throws(RemoteError) {
        let guest = try running(uuid)
        guard guest.lifecycle.status.state != .paused else { return }
        await apply(.pauseRequested(reason), to: uuid)
        do throws(QMPError) { try await guest.qmp.stop() } catch { throw Self.monitorError(error) }
        await apply(.pausedByRequest, to: uuid)
    }

    func resume(_ uuid: RemoteUUID) async throws(RemoteError) {
        let guest = try running(uuid)
        do throws(QMPError) { try await guest.qmp.cont() } catch { throw Self.monitorError(error) }
        await apply(.resumedByRequest, to: uuid)
    }

    /// Destroys the guests started with autodestroy by a connection that just closed, and
    /// cancels the migrations it was driving.
    func connectionClosed(_ connectionID: UInt64) async {
        let owned = registry.records { $0.runtime?.autodestroyConnection == connectionID }
        for record in owned {
            try? await jobs.run(record.name, "autodestroy") { () async throws(RemoteError) in
                try await self.destroy(record.uuid, graceful: false)
            }
        }
        await abandonMigrations(of: connectionID)
    }

    /// Adds a taint to a running guest (monitor passthrough).
    func taint(_ uuid: RemoteUUID, _ taint: DomainTaint) {
        let added = registry.updateGuest(uuid) { guest -> Bool in
            guard !guest.taints.contains(taint.rawValue) else { return false }
            guest.taints.append(taint.rawValue)
            return true
        }
        if added == true, let guest = registry.guest(uuid) {
            appendLog(guest.runDirectory, "\(Self.timestamp()): Domain id=\(guest.id) is tainted: \(taint.rawValue)\n")
            writeStatus(uuid)
        }
    }

    // MARK: - Monitor passthrough

    /// Runs a client's QMP message (or, with `hmp`, an HMP command line) on the guest's dedicated
    /// passthrough session, never the daemon's own; returns QEMU's whole reply (errors included)
    /// or, for HMP, its output. The daemon's session still sees the events it causes. This is the
    /// first call's path (it opens the session and taints the guest); later calls take
    /// ``PassthroughSessions``' fast path.
    ///
    /// The session is opened on `eventLoop` (the calling connection's) when given: a client that
    /// then keeps calling is served without a thread hop.
    func monitorCommand(_ uuid: RemoteUUID, command: String, hmp: Bool, monitor: Int = 0, eventLoop: (any EventLoop)? = nil) async throws(RemoteError) -> String {
        let guest = try running(uuid)
        taint(uuid, .customMonitor)
        // The pool may be smaller than when the caller looked (the guest restarted meanwhile).
        let index = monitor < guest.passthroughSessions.count ? monitor : 0
        let session = try await passthroughSession(uuid, monitor: index, socket: PassthroughMonitor.socketPath(runDirectory: guest.runDirectory, index: index), eventLoop: eventLoop)
        do {
            return try await passthrough.run(command, hmp: hmp, on: session).get()
        } catch {
            throw (error as? RemoteError) ?? RemoteError(code: .internalError, domain: .qemu, detail: "\(error)")
        }
    }

    /// The open session on the guest's passthrough monitor `monitor`, opened (once, however many
    /// callers ask at the same time) when there is none.
    private func passthroughSession(_ uuid: RemoteUUID, monitor: Int, socket: String, eventLoop: (any EventLoop)?) async throws(RemoteError) -> QMPClient {
        let key = PassthroughMonitorKey(domain: uuid, monitor: monitor)
        if let sessions = registry.guest(uuid)?.passthroughSessions, sessions.indices.contains(monitor), let open = sessions[monitor], open.isOpen {
            return open
        }
        if let pending = openingSessions[key] { return try await pending.value.get() }
        let opening = Task { () -> Result<QMPClient, RemoteError> in
            do throws(QMPError) {
                // With `oob` QEMU queues the clients' commands instead of reading one at a time,
                // and clients may send `exec-oob`.
                let session = try await QMPClient.connect(
                    unixSocket: socket, capabilities: ["oob"], eventLoopGroup: eventLoop ?? MultiThreadedEventLoopGroup.singleton)
                // Events on this session are the daemon's business only through its own session.
                Task { for await _ in session.events {} }
                return .success(session)
            } catch {
                return .failure(RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot open the passthrough monitor: \(error)"))
            }
        }
        openingSessions[key] = opening
        let result = await opening.value
        openingSessions[key] = nil
        let session = try result.get()
        let stored = registry.updateGuest(uuid) { guest -> Bool in
            guard monitor < guest.passthroughSessions.count else { return false }
            guest.passthroughSessions[monitor] = session
            return true
        }
        guard stored == true else {
            await session.close()
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
        }
        return session
    }

    // MARK: - Guest agent passthrough

    /// Where the guest agent's channel socket is: the user's path, or the one the command line
    /// builder gives a unix channel without one.
    static func agentSocket(_ definition: DomainDefinition, runDirectory: String) -> String? {
        guard let channel = definition.devices.channels.first(where: { $0.targetName == GuestAgentChannel.channelName && $0.type == .unix }) else { return nil }
        return channel.path ?? runDirectory + "/channel-\(GuestAgentChannel.channelName).sock"
    }

    /// Runs a client's guest-agent command (`virDomainQemuAgentCommand`): returns the agent's
    /// whole reply, or an empty string when told not to wait.
    func agentCommand(_ uuid: RemoteUUID, command: String, timeout: Int32) async throws(RemoteError) -> String {
        guard timeout >= -2 else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "guest agent timeout '\(timeout)' is less than the minimum '-2'")
        }
        let socket = try GuestAgentCalls.agentSocket(of: try running(uuid))
        let message: JSONValue
        do throws(JSONParseError) {
            message = try JSONValue.parse(command)
        } catch {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot parse json \(command): \(error.message)")
        }
        guard message["execute"]?.stringValue != nil else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot parse json \(command): not a command (no \"execute\")")
        }
        taint(uuid, .customGACommand)
        do throws(RemoteError) {
            return try await GuestAgentChannel.execute(socket: socket, command: message, timeout: timeout, group: MultiThreadedEventLoopGroup.singleton)
        } catch {
            if error.message?.contains("unable to parse the guest agent's reply") == true {
                logger.warning("a guest agent sent a malformed reply", metadata: ["domain": "\(registry.record(uuid: uuid)?.name ?? "")", "error": "\(error.message?.prefix(200) ?? "")"])
            }
            throw error
        }
    }

    // MARK: - Reattaching after a daemon restart

    /// Finds guests left running by an earlier daemon and takes them over; cleans up the files of
    /// guests that are gone.
    func reattachAll() async {
        let root = configuration.runDirectory + "/domains"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for name in names.sorted() {
            let directory = root + "/" + name
            let statusPath = directory + "/status.xml"
            guard let text = try? String(contentsOfFile: statusPath, encoding: .utf8) else { continue }
            guard let status = GuestStatus(text: text), let parsed = try? DomainXMLParser.parse(status.domainXML, options: liveOptions),
                let uuid = RemoteUUID(parsed.definition.uuid)
            else {
                logger.error("removing an unreadable status file", metadata: ["file": "\(statusPath)"])
                Self.removeRuntimeFiles(directory)
                continue
            }
            guard ProcessLauncher.isQEMU(pid: status.pid, uuid: "\(uuid)") else {
                logger.notice("the QEMU of a domain is gone; cleaning up", metadata: ["name": "\(name)", "pid": "\(status.pid)"])
                Self.removeRuntimeFiles(directory)
                continue
            }
            // QEMU's monitor takes one client at a time, with a backlog of one: while it notices
            // that the old daemon's session is gone, a connect may be refused. Retry for a while.
            logger.debug("reconnecting to a running domain's monitor", metadata: ["name": "\(name)", "socket": "\(status.qmpSocket)"])
            var connected: QMPClient?
            var lastError = ""
            for _ in 0..<100 where connected == nil {
                do throws(QMPError) {
                    connected = try await QMPClient.connect(unixSocket: status.qmpSocket)
                } catch {
                    lastError = error.message
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            guard let qmp = connected else {
                logger.error("cannot reconnect to a running domain's monitor; leaving it alone", metadata: ["name": "\(name)", "error": "\(lastError)"])
                continue
            }
            logger.debug("monitor reconnected", metadata: ["name": "\(name)"])
            let current = try? await qmp.queryStatus()
            if registry.record(uuid: uuid) == nil {
                _ = try? registry.addTransient(parsed)
            }
            let state: DomainState = current.map { $0.running ? .running : ($0.status == "shutdown" ? .shutdown : .paused) } ?? status.state
            let guestStatus = state == status.state ? (DomainStatus(state: status.state, reason: status.reason) ?? .running(.unknown))
                : state == .running ? .running(.booted) : state == .shutdown ? .shutdown(.unknown) : .paused(.unknown)
            let definition = parsed.definition
            var runtime = GuestRuntime(
                id: status.id, pid: status.pid, process: try? ProcessReaper.shared.watch(status.pid, isChild: false), qmp: qmp,
                passthroughSessions: Array(repeating: nil, count: GuestRuntime.existingPassthroughMonitors(runDirectory: directory)), runDirectory: directory,
                lifecycle: GuestLifecycle(policy: .init(definition), status: guestStatus), agentSocket: Self.agentSocket(definition, runDirectory: directory),
                taints: status.taints, liveXML: status.domainXML,
                devices: GuestDevices((try? resolveVolumeDisks(definition)) ?? definition, runDirectory: directory), vcpuCount: definition.currentVcpus,
                vcpuMaximum: definition.vcpus, cgroup: GuestTunables.existing(layout: cgroups, name: definition.name, id: status.id))
            runtime.clockAdjustmentAtStart = status.clockAdjustmentAtStart
            runtime.chosenWebsocketPort = status.chosenWebsocketPort
            runtime.detectedChains = status.detectedChains
            runtime.defaultListenGraphics = status.defaultListenGraphics
            runtime.askedCPU = status.askedCPU
            // The live <perf> counters, opened again as libvirt opens them on reconnect (they
            // count from now on).
            do throws(RemoteError) {
                runtime.perfCounters = try PerfCounters.open(definition.perf.enabled, pid: status.pid)
            } catch {
                runtime.perfCounters = PerfCounters(pid: status.pid)
                logger.warning("cannot count the guest's perf events again", metadata: ["name": "\(name)", "error": "\(error)"])
            }
            guard let record = registry.updateRuntime(uuid, { r in r.runtime = runtime }) else { continue }
            await adoptInterfaces(definition, devices: runtime.devices)
            if status.id > 0 && status.id < Int32.max { nextID = max(nextID, status.id + 1) }
            writeStatus(uuid)
            supervise(uuid, qmp: qmp)
            logger.info("reattached to a running domain", metadata: ["name": "\(record.name)", "id": "\(status.id)", "pid": "\(status.pid)"])
        }
    }

    /// Starts the autostart domains that are not running.
    func autostartAll() async {
        for record in registry.records(where: { $0.autostart && !$0.isActive }) {
            do throws(RemoteError) {
                _ = try await jobs.run(record.name, "autostart") { () async throws(RemoteError) -> RemoteDomain in
                    try await self.startDefined(record.uuid, paused: false, autodestroyConnection: nil)
                }
            } catch {
                logger.error("autostart failed", metadata: ["name": "\(record.name)", "error": "\(error)"])
            }
        }
    }

    // MARK: - Files

    /// Writes the status file of every running guest (at a graceful stop); returns how many.
    func writeAllStatusFiles() async -> Int {
        let running = registry.runningUUIDs()
        for uuid in running { writeStatus(uuid) }
        await runtimeFiles.flush()
        return running.count
    }

    /// Writes the status file after a change made to the live XML outside the driver (memory,
    /// metadata), so a restarted daemon finds it.
    func liveXMLChanged(_ uuid: RemoteUUID) { writeStatus(uuid) }

    private func writeStatus(_ uuid: RemoteUUID) {
        if let record = registry.record(uuid: uuid) { writeStatus(record) }
    }

    private func writeStatus(_ record: DomainRecord) {
        guard let guest = record.runtime else { return }
        var status = GuestStatus(
            pid: guest.pid, id: guest.id, state: record.state, reason: record.reason, persistent: record.persistent, taints: guest.taints,
            qmpSocket: guest.qmpSocket, passthroughSocket: guest.passthroughSocket, domainXML: guest.liveXML)
        status.clockAdjustmentAtStart = guest.clockAdjustmentAtStart
        status.chosenWebsocketPort = guest.chosenWebsocketPort
        status.detectedChains = guest.detectedChains
        status.defaultListenGraphics = guest.defaultListenGraphics
        status.askedCPU = guest.askedCPU
        let path = guest.runDirectory + "/status.xml"
        let logger = self.logger
        runtimeFiles.enqueue { [status] in
            do throws(StoreError) {
                try status.write(to: path)
            } catch {
                logger.error("cannot write a status file", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Where libvirt keeps a guest's pid (`RUN/qemu/NAME.pid`), for a guest whose run directory
    /// is `RUN/domains/NAME`: tools that look for QEMU's pid there (libvirt-tck) find it.
    nonisolated static func libvirtPidFile(_ directory: String) -> String {
        let name = (directory as NSString).lastPathComponent
        let root = ((directory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        return root + "/qemu/" + name + ".pid"
    }

    nonisolated private static func writeLibvirtPidFile(_ directory: String, pid: pid_t) {
        let path = libvirtPidFile(directory)
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try? DefinitionStore.atomicWrite(path: path, contents: Array("\(pid)\n".utf8), durable: false)
    }

    /// Removes what a run leaves in its directory. `keepingHelpers`: the sockets of the helpers
    /// started just before QEMU (swtpm, virtiofsd) stay, and so do they; otherwise any virtiofsd
    /// still running is stopped.
    nonisolated private static func removeRuntimeFiles(_ directory: String, keepingHelpers: Bool = false) {
        if !keepingHelpers { VirtioFSDaemons.stopAll(in: directory) }
        for file in ["qmp.sock", "passthrough.sock", "status.xml", "qemu.cfg", "qemu.pid"] { unlink(directory + "/" + file) }
        unlink(libvirtPidFile(directory))
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            // The emulated TPM's socket is the swtpm's, started just before QEMU, and virtiofsd's
            // are theirs.
            for entry in entries where entry.hasSuffix(".sock") && !(keepingHelpers && (entry == "swtpm.sock" || entry.hasSuffix("-fs.sock"))) {
                unlink(directory + "/" + entry)
            }
            // The files of file-backed guest memory (`<memoryBacking><source type='file'>`),
            // and of memory devices (`memALIAS`).
            for entry in entries where entry == "pc.ram" || entry.hasPrefix("ram-node") || (entry.hasPrefix("mem") && !entry.contains(".")) {
                unlink(directory + "/" + entry)
            }
            // Secrets QEMU read at start (HTTP cookies of network disks).
            for entry in entries where entry.hasSuffix(".secret") { unlink(directory + "/" + entry) }
        }
    }

    private func appendLog(_ directory: String, _ text: String) {
        runtimeFiles.enqueue {
            let fd = open(directory + "/qemu.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
    }

    static func logTail(_ path: String, from offset: off_t) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(max(0, offset)))
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        // Drop the daemon's own lines (the command line and taints) and keep QEMU's.
        let lines = text.split(separator: "\n").filter { line in
            !line.contains(": starting up corral") && !line.contains(" is tainted: ") && !line.hasPrefix("LC_ALL=")
        }
        return lines.suffix(20).joined(separator: "\n")
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var time = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &time)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%03d+0000", time.tm_year + 1900, time.tm_mon + 1, time.tm_mday, time.tm_hour, time.tm_min, time.tm_sec, now.tv_nsec / 1_000_000)
    }

    /// The first port of the range VNC and SPICE servers take ports from (libvirt's
    /// `remote_display_port_min`).
    static let firstGraphicsPort = 5900

    /// The first port of the range VNC WebSocket listeners take ports from (libvirt's
    /// `remote_websocket_port_min`).
    static let firstWebsocketPort = 5700

    /// `count` ports from `first` (5900) up that nothing on 127.0.0.1 listens on and that are
    /// not `excluding` (fewer if the range of 100 is full).
    static func freeGraphicsPorts(count: Int, from first: Int = firstGraphicsPort, excluding: Set<Int> = []) -> [Int] {
        var free: [Int] = []
        for port in first..<(first + 100) where free.count < count && !excluding.contains(port) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
            let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            if result == 0 { free.append(port) }
        }
        return free
    }
}

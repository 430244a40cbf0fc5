import CorralJSON
import Logging
import CorralProtocol
import DomainXML
import Foundation
import Glibc
import NIOCore
import QMP
import XMLTree

/// Live migration between daemons (libvirt's protocol version 3): the source's Begin, Perform
/// and Confirm, the destination's Prepare and Finish. QEMU carries the guest's memory and device
/// state straight from the source QEMU to the destination QEMU over TCP; the daemons only set
/// up, watch and finish.
extension DomainDriver {
    /// This host's identity in cookies: its name (`gethostname`, no resolver lookup on the
    /// event loop) and UUID.
    nonisolated var migrationIdentity: (hostname: String, hostUUID: String) {
        var name = [CChar](repeating: 0, count: 256)
        let hostname = gethostname(&name, name.count - 1) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "localhost"
        return (hostname, configuration.hostUUID ?? Self.machineUUID)
    }

    /// The machine's UUID, read once.
    private static let machineUUID = HostInformation.hostUUID()

    // MARK: - Source

    /// Begin: checks the guest can go, and returns the definition the destination is to run and
    /// the first cookie.
    func migrationBegin(
        _ uuid: RemoteUUID, parameters: MigrationParameters, flags: MigrationFlags, connectionID: UInt64? = nil
    ) async throws(RemoteError) -> (cookie: [UInt8], xml: String) {
        try flags.check(parameters)
        guard let record = registry.record(uuid: uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
        }
        guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
        guard longJobs.running(uuid) == nil else {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "another migration job is already running for domain '\(record.name)'")
        }
        var xml = try saveImageXML(guest, record: record, replacement: parameters.destinationXML, allowingName: parameters.destinationName)
        if let name = parameters.destinationName, name != record.name, parameters.destinationXML == nil {
            xml = Self.renamedXML(xml, to: name)
        }
        let identity = migrationIdentity
        var cookie = MigrationCookie(name: record.name, uuid: "\(uuid)", hostname: identity.hostname, hostUUID: identity.hostUUID)
        if flags.copiesStorage {
            cookie.nbd = try await storageCopyCookie(guest, definition: try liveDefinition(guest), parameters: parameters)
        }
        migrations.setOutgoing(uuid, .init(flags: flags, wasRunning: guest.lifecycle.status.state == .running, connectionID: connectionID))
        return (cookie.encoded, xml)
    }

    /// Perform: QEMU sends the guest to `uri`; returns once the destination has it all (the
    /// guest is paused here then). A failure or a cancel leaves it running here.
    func migrationPerform(
        _ uuid: RemoteUUID, uri: String?, parameters: MigrationParameters, flags: MigrationFlags, cookie: [UInt8], tunnel: Int32? = nil
    ) async throws(RemoteError) -> [UInt8] {
        try flags.check(parameters)
        guard let record = registry.record(uuid: uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
        }
        let guest = try running(uuid)
        let theirs = try MigrationCookie.decode(cookie)
        if let theirs {
            guard theirs.hostUUID.lowercased() != migrationIdentity.hostUUID.lowercased() else {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "Attempt to migrate guest to the same host \(theirs.hostUUID)")
            }
        }
        // Where QEMU sends the stream: the destination's port, or the tunnel's socket.
        let qemuURI: String
        var destinationHost: String?
        if tunnel != nil {
            qemuURI = "fd:" + Self.migrationDescriptorName
        } else {
            guard let uri else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "no migration URI given") }
            let target = try MigrationURI(uri)
            guard target.port != nil else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "migration URI \(uri) has no port") }
            qemuURI = target.qemuURI
            destinationHost = target.host
        }
        // A storage copy goes to the NBD server the destination started (its cookie's port).
        var storageTarget: (host: String, port: Int)?
        if flags.copiesStorage {
            guard let host = destinationHost, let port = theirs?.nbd?.port else {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "the destination did not start an NBD server for the storage copy")
            }
            storageTarget = (host, port)
        }
        var outgoing = migrations.outgoing(uuid) ?? .init(flags: flags, wasRunning: guest.lifecycle.status.state == .running)
        outgoing.flags = flags
        let wasRunning = guest.lifecycle.status.state == .running
        outgoing.wasRunning = wasRunning
        migrations.setOutgoing(uuid, outgoing)
        let limits = migrationLimits.get(uuid)
        var capabilities: [(String, Bool)] = [
            ("xbzrle", flags.contains(.compressed) || parameters.compression.contains("xbzrle")), ("auto-converge", flags.contains(.autoConverge)),
            ("multifd", flags.contains(.parallel)), ("postcopy-ram", flags.contains(.postcopy)),
            // MIGRATION_PASS events become libvirt's migration-iteration events.
            ("events", true),
        ]
        // With a storage copy, QEMU pauses before the switch-over so the mirrors can end first.
        capabilities.append(("pause-before-switchover", storageTarget != nil))
        var settings: [(String, JSONValue)] = [
            ("max-bandwidth", .integer(Self.bandwidthBytes(parameters.bandwidth ?? limits.bandwidth))),
            ("downtime-limit", .integer(Int64(clamping: limits.downtime))),
        ]
        if flags.contains(.parallel) { settings.append(("multifd-channels", .integer(Int64(parameters.parallelConnections ?? 2)))) }
        if let initial = parameters.autoConvergeInitial { settings.append(("cpu-throttle-initial", .integer(Int64(initial)))) }
        if let increment = parameters.autoConvergeIncrement { settings.append(("cpu-throttle-increment", .integer(Int64(increment)))) }
        if let cache = parameters.xbzrleCache { settings.append(("xbzrle-cache-size", .integer(Int64(clamping: cache)))) }
        // TLS on (QEMU checks the destination's certificate against the URI's host, or
        // `tls.destination`) or explicitly off, so an earlier TLS attempt leaves nothing set.
        let tls = flags.contains(.tls)
        if tls { try await Self.addMigrationTLS(configuration.migrationTLS, server: false, qmp: guest.qmp) }
        settings += Self.migrationTLSParameters(enabled: tls, hostname: parameters.tlsDestination)
        do throws(QMPError) {
            _ = try await guest.qmp.execute("migrate-set-capabilities", arguments: .object([
                ("capabilities", .array(capabilities.map { .object([("capability", .string($0.0)), ("state", .bool($0.1))]) })),
            ]))
            _ = try await guest.qmp.execute("migrate-set-parameters", arguments: .object(settings))
        } catch {
            if tls { await Self.removeMigrationTLS(qmp: guest.qmp) }
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot set up the migration: \(error)")
        }
        // The vCPUs stop at the end (or now, for an offline-style non-live migration): the
        // stop is reported as for a migration.
        await apply(.pauseRequested(.migration), to: uuid)
        if !flags.contains(.live) && wasRunning {
            do throws(QMPError) { try await guest.qmp.stop() } catch { throw Self.monitorError(error) }
        }
        longJobs.begin(uuid, .migrationOut, qmp: guest.qmp)
        var mirrored: [StorageCopyDisk] = []
        do throws(RemoteError) {
            if let storageTarget {
                mirrored = try await startStorageMirrors(
                    uuid, guest: guest, definition: try liveDefinition(guest), parameters: parameters, flags: flags,
                    host: storageTarget.host, port: storageTarget.port, bandwidth: parameters.bandwidth ?? limits.bandwidth,
                    tls: tls ? Self.migrationTLSAlias : nil)
            }
            do throws(QMPError) {
                if let tunnel {
                    _ = try await guest.qmp.execute("getfd", arguments: .object([("fdname", .string(Self.migrationDescriptorName))]), passing: tunnel)
                }
                _ = try await guest.qmp.execute("migrate", arguments: .object([("uri", .string(qemuURI))]))
            } catch {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "migration failed: \(error)")
            }
            // With POSTCOPY, `virsh migrate-postcopy` (DOMAIN_MIGRATE_START_POST_COPY) switches.
            if storageTarget != nil {
                // Paused before the switch-over: the mirrors end with the images consistent,
                // then the device state goes.
                try await Self.waitForMigration(qmp: guest.qmp, job: "migration out", tracking: (longJobs, uuid), returningAt: .beforeSwitchover, statusEvents: true)
                try await completeStorageMirrors(uuid, guest: guest, disks: mirrored)
                mirrored = []
                do throws(QMPError) {
                    _ = try await guest.qmp.execute("migrate-continue", arguments: .object([("state", .string(MigrationStop.beforeSwitchover.rawValue))]))
                } catch {
                    throw RemoteError(code: .operationFailed, domain: .qemu, detail: "migration failed: \(error)")
                }
            }
            // With POSTCOPY the source's part ends at the switch (libvirt's rule): the
            // destination's Finish waits for the rest of the memory.
            let ended = try await Self.waitForMigration(
                qmp: guest.qmp, job: "migration out", tracking: (longJobs, uuid), returningAt: flags.contains(.postcopy) ? .postcopy : nil,
                statusEvents: true)
            if ended == .postcopy { await apply(.postcopyStarted, to: uuid) }
        } catch {
            _ = try? await guest.qmp.execute("migrate_cancel")
            if !mirrored.isEmpty { await abandonStorageMirrors(guest: guest, disks: mirrored) }
            if tls { await Self.removeMigrationTLS(qmp: guest.qmp) }
            await apply(.pauseAbandoned, to: uuid)
            // Paused for the migration (non-live, or a suspend while it ran): runs again.
            if wasRunning, registry.guest(uuid)?.lifecycle.status == .paused(.migration) {
                await apply(.migrationResumeRequested(cancelled: true), to: uuid)
                if (try? await guest.qmp.cont()) != nil { await apply(.resumedAfterMigration, to: uuid) }
            }
            endJob(uuid, handle: record.handle, error: error)
            migrations.setOutgoing(uuid, nil)
            throw error
        }
        endJob(uuid, handle: record.handle, error: nil)
        outgoing.performed = true
        migrations.setOutgoing(uuid, outgoing)
        let identity = migrationIdentity
        var reply = MigrationCookie(name: record.name, uuid: "\(uuid)", hostname: identity.hostname, hostUUID: identity.hostUUID)
        if flags.contains(.persistDestination) {
            reply.persistentXML = record.persistent ? record.xml : (try? saveImageXML(guest, record: record, replacement: nil, allowingName: nil))
        }
        return reply.encoded
    }

    /// Confirm: the migration succeeded (the guest here stops, and is undefined with
    /// `UNDEFINE_SOURCE`) or was cancelled (a guest that ran runs again).
    /// A success hands back the remainder of the old QEMU's clean-up (``stopMigratedAway(_:)``),
    /// to run inside the domain's job after the answer.
    @discardableResult
    func migrationConfirm(_ uuid: RemoteUUID, flags: MigrationFlags, cancelled: Bool) async throws(RemoteError) -> DomainJobs.Remainder? {
        let outgoing = migrations.outgoing(uuid)
        migrations.setOutgoing(uuid, nil)
        guard let record = registry.record(uuid: uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
        }
        guard let guest = record.runtime else {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
        }
        if cancelled {
            if guest.lifecycle.status == .paused(.postcopy) {
                // Part of the guest's memory is on the destination already: neither QEMU can
                // go on alone, so both are kept (libvirt's post-copy failure) for the
                // administrator to destroy.
                await apply(.postcopyFailed, to: uuid)
                logger.error("post-copy migration failed after the switch; the guest is kept paused", metadata: ["name": "\(record.name)"])
                return nil
            }
            _ = try? await guest.qmp.execute("migrate_cancel")
            await apply(.pauseAbandoned, to: uuid)
            let wasRunning = outgoing?.wasRunning ?? true
            if wasRunning, registry.guest(uuid)?.lifecycle.status.state == .paused {
                await apply(.migrationResumeRequested(cancelled: true), to: uuid)
                do throws(QMPError) { try await guest.qmp.cont() } catch { throw Self.monitorError(error) }
                await apply(.resumedAfterMigration, to: uuid)
            }
            logger.info("migration cancelled; the guest stays", metadata: ["name": "\(record.name)"])
            return nil
        }
        let remainder = try await stopMigratedAway(uuid)
        if flags.contains(.undefineSource), registry.record(uuid: uuid)?.persistent == true {
            let registry = self.registry
            try await BlockingWork.run { () throws(RemoteError) in try registry.undefine(record.handle, flags: 0) }
            events.lifecycle(record.handle, .undefined)
        }
        logger.info("domain migrated away", metadata: ["name": "\(record.name)"])
        return remainder
    }

    // MARK: - Destination

    /// Prepare: starts QEMU waiting for the guest on a port of this host; returns the cookie and
    /// the URI the source's QEMU is to send to.
    func migrationPrepare(
        parameters: MigrationParameters, cookie: [UInt8], flags: MigrationFlags, reachedAt localAddress: String?, tunnel: Int32? = nil,
        connectionID: UInt64? = nil
    ) async throws(RemoteError) -> (cookie: [UInt8], uri: String, domain: RemoteDomain) {
        try flags.check(parameters)
        guard var xml = parameters.destinationXML else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "no domain XML passed")
        }
        if let name = parameters.destinationName { xml = Self.renamedXML(xml, to: name) }
        let parsed: ParsedDomain
        do throws(DomainXMLError) { parsed = try DomainXMLParser.parse(xml, options: options) } catch { throw RemoteError(domainXMLError: error) }
        let identity = migrationIdentity
        let theirs = try MigrationCookie.decode(cookie)
        if let theirs {
            try theirs.check(uuid: parsed.definition.uuid, localHostUUID: identity.hostUUID)
        }
        let copiesStorage = flags.copiesStorage && theirs?.nbd != nil
        if copiesStorage {
            try await precreateMigratedStorage(parsed.definition, nbd: theirs?.nbd, parameters: parameters, flags: flags)
        }
        var requested: MigrationURI?
        if let uri = parameters.uri, tunnel == nil { requested = try MigrationURI(uri) }
        let listenHost = parameters.listenAddress ?? (Self.hostHasIPv6 ? "[::]" : "0.0.0.0")
        let port: Int
        if tunnel != nil {
            port = 0
        } else if let given = requested?.port {
            port = given
        } else {
            port = try await freeMigrationPort(host: listenHost)
        }
        let advertisedHost = requested?.host ?? configuration.migrationHost ?? localAddress ?? identity.hostname
        guard tunnel != nil || !advertisedHost.hasPrefix("localhost") || requested != nil else {
            throw RemoteError(
                code: .operationFailed, domain: .qemu,
                detail: "hostname on destination resolved to localhost, but migration requires an FQDN")
        }
        let setup = IncomingNetworkMigration(
            listenURI: "tcp:\(listenHost):\(port)", tunnelDescriptor: tunnel,
            capabilities: [
                ("multifd", flags.contains(.parallel)), ("postcopy-ram", flags.contains(.postcopy)), ("xbzrle", flags.contains(.compressed)),
                ("events", true),
            ],
            parallelConnections: flags.contains(.parallel) ? (parameters.parallelConnections ?? 2) : nil,
            tls: flags.contains(.tls) ? configuration.migrationTLS : nil)
        if flags.contains(.tls) { try Self.checkMigrationTLSFiles(configuration.migrationTLS, server: true) }
        let uuid = RemoteUUID(parsed.definition.uuid) ?? RemoteUUID(high: 0, low: 0)
        var addedTransient = false
        let started: RemoteDomain
        if let existing = registry.record(uuid: uuid) {
            guard existing.name == parsed.definition.name else {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "domain '\(existing.name)' is already defined with uuid \(uuid)")
            }
            guard !existing.isActive else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain '\(existing.name)' is already active")
            }
            longJobs.begin(uuid, .migrationIn, qmp: nil, cancellable: false)
            do throws(RemoteError) {
                started = try await start(uuid, paused: true, autodestroyConnection: nil, live: parsed, incoming: .network(setup))
            } catch {
                _ = longJobs.end(uuid, outcome: .failed, error: error.message)
                throw error
            }
        } else {
            let record = try registry.addTransient(parsed)
            addedTransient = true
            longJobs.begin(record.uuid, .migrationIn, qmp: nil, cancellable: false)
            do throws(RemoteError) {
                started = try await start(record.uuid, paused: true, autodestroyConnection: nil, incoming: .network(setup))
            } catch {
                _ = longJobs.end(record.uuid, outcome: .failed, error: error.message)
                registry.removeIfTransient(record.uuid)
                throw error
            }
        }
        var reply = MigrationCookie(name: parsed.definition.name, uuid: "\(uuid)", hostname: identity.hostname, hostUUID: identity.hostUUID)
        if copiesStorage {
            do throws(RemoteError) {
                let port = try await startStorageExports(
                    try running(uuid), definition: parsed.definition, parameters: parameters, listenHost: listenHost,
                    tls: flags.contains(.tls) ? Self.migrationTLSAlias : nil)
                reply.nbd = MigrationNBD(port: port)
            } catch {
                _ = longJobs.end(uuid, outcome: .failed, error: error.message)
                try? await destroy(uuid, graceful: false)
                if addedTransient { registry.removeIfTransient(uuid) }
                throw error
            }
        }
        migrations.setIncoming(
            uuid, .init(
                flags: flags, addedTransient: addedTransient, persistentXML: parameters.persistentXML, connectionID: connectionID,
                servesStorage: copiesStorage))
        let host = advertisedHost.contains(":") && !advertisedHost.hasPrefix("[") ? "[\(advertisedHost)]" : advertisedHost
        logger.info("waiting for an incoming migration", metadata: ["name": "\(parsed.definition.name)", "uri": "\(tunnel == nil ? "tcp:\(host):\(port)" : "tunnel")"])
        return (reply.encoded, "tcp:\(host):\(port)", started)
    }

    /// Finish: waits for the whole guest to arrive, then runs it (unless `PAUSED`) and, with
    /// `PERSIST_DEST`, defines it; a cancelled migration stops the waiting QEMU instead.
    func migrationFinish(_ uuid: RemoteUUID, cookie: [UInt8], flags: MigrationFlags, cancelled: Bool) async throws(RemoteError) -> (RemoteDomain, [UInt8]) {
        let incoming = migrations.incoming(uuid)
        guard let record = registry.record(uuid: uuid), let guest = record.runtime, incoming != nil else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)' is being migrated here")
        }
        migrations.setIncoming(uuid, nil)
        func abandon(_ error: RemoteError) async -> RemoteError {
            _ = longJobs.end(uuid, outcome: cancelled ? .cancelled : .failed, error: error.message)
            try? await destroy(uuid, graceful: false)
            if incoming?.addedTransient == true { registry.removeIfTransient(uuid) }
            return error
        }
        if cancelled {
            throw await abandon(RemoteError(code: .migrateFinishOK, domain: .qemu, detail: "the source cancelled it"))
        }
        let theirs: MigrationCookie?
        let inPostcopy: Bool
        do throws(RemoteError) {
            theirs = try MigrationCookie.decode(cookie)
            inPostcopy = try await Self.waitForIncomingMigration(qmp: guest.qmp) == .postcopy
            if incoming?.servesStorage == true {
                do throws(QMPError) { _ = try await guest.qmp.execute("nbd-server-stop") } catch { throw Self.monitorError(error) }
            }
            if flags.contains(.tls) && !inPostcopy { await Self.removeMigrationTLS(qmp: guest.qmp) }
        } catch {
            throw await abandon(error)
        }
        if !flags.contains(.paused) {
            // In post-copy the guest runs here while its remaining memory comes on demand.
            await apply(inPostcopy ? .postcopyResumeRequested : .migrationResumeRequested(cancelled: false), to: uuid)
            do throws(QMPError) {
                try await guest.qmp.cont()
            } catch {
                throw await abandon(RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot start the vCPUs after the migration: \(error)"))
            }
            await apply(.resumedAfterMigration, to: uuid)
        }
        if inPostcopy {
            // The source keeps serving pages until the last one is here; only then may it go.
            // A failure now leaves the guest split between the hosts: kept, not destroyed.
            do throws(RemoteError) {
                _ = try await Self.waitForIncomingMigration(qmp: guest.qmp, throughPostcopy: true)
            } catch {
                await apply(.postcopyFailed, to: uuid)
                _ = longJobs.end(uuid, outcome: .failed, error: error.message)
                throw error
            }
            if flags.contains(.tls) { await Self.removeMigrationTLS(qmp: guest.qmp) }
            await apply(.postcopyCompleted, to: uuid)
        }
        _ = longJobs.end(uuid, outcome: .completed)
        if flags.contains(.persistDestination) {
            let xml = incoming?.persistentXML ?? theirs?.persistentXML ?? record.xml
            do {
                let parsed = try DomainXMLParser.parse(xml, options: options)
                let (handle, isNew) = try await registry.defineFromEventLoop(parsed)
                events.lifecycle(handle, .defined(added: isNew))
            } catch {
                logger.warning("the migrated guest runs but could not be defined", metadata: ["error": "\(error)"])
            }
        }
        let identity = migrationIdentity
        let reply = MigrationCookie(name: record.name, uuid: "\(uuid)", hostname: identity.hostname, hostUUID: identity.hostUUID)
        logger.info("incoming migration finished", metadata: ["name": "\(record.name)"])
        return (registry.record(uuid: uuid)?.handle ?? record.handle, reply.encoded)
    }

    /// Sets the agreed capabilities on the waiting QEMU and has it listen.
    static func listenForMigration(_ setup: IncomingNetworkMigration, qmp: QMPClient) async throws(RemoteError) {
        if let tls = setup.tls { try await addMigrationTLS(tls, server: true, qmp: qmp) }
        do throws(QMPError) {
            _ = try await qmp.execute("migrate-set-capabilities", arguments: .object([
                ("capabilities", .array(setup.capabilities.map { .object([("capability", .string($0.0)), ("state", .bool($0.1))]) })),
            ]))
            if let channels = setup.parallelConnections {
                _ = try await qmp.execute("migrate-set-parameters", arguments: .object([("multifd-channels", .integer(Int64(channels)))]))
            }
            if setup.tls != nil {
                _ = try await qmp.execute("migrate-set-parameters", arguments: .object(migrationTLSParameters(enabled: true)))
            }
            if let descriptor = setup.tunnelDescriptor {
                _ = try await qmp.execute("getfd", arguments: .object([("fdname", .string(migrationDescriptorName))]), passing: descriptor)
                _ = try await qmp.execute("migrate-incoming", arguments: .object([("uri", .string("fd:" + migrationDescriptorName))]))
            } else {
                _ = try await qmp.execute("migrate-incoming", arguments: .object([("uri", .string(setup.listenURI))]))
            }
        } catch {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot listen for the migration on \(setup.listenURI): \(error)")
        }
    }

    /// Where an incoming migration stands once its device state is in.
    enum IncomingEnd: Sendable { case completed, postcopy }

    /// Polls the destination QEMU until the incoming migration completes (its `query-migrate`)
    /// or, unless `throughPostcopy`, switches to post-copy (the guest may run here then).
    /// Through post-copy there is no deadline (the rest of the memory comes at the source's
    /// pace); a post-copy that QEMU pauses (the source went away) fails.
    static func waitForIncomingMigration(qmp: QMPClient, throughPostcopy: Bool = false) async throws(RemoteError) -> IncomingEnd {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            // QEMU's MIGRATION event (the `events` capability, set at Prepare) says when the
            // status changes; waiting begins before the look so none is missed.
            let change = qmp.nextEvent(named: ["MIGRATION"], within: .milliseconds(50))
            let info: JSONValue
            do throws(QMPError) { info = try await qmp.execute("query-migrate") } catch { throw monitorError(error) }
            let status = info["status"]?.stringValue
            switch status {
            case "completed":
                return .completed
            case "failed", "cancelled":
                let reason = info["error-desc"]?.stringValue.map { ": \($0)" } ?? ""
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "job 'migration in' failed\(reason)")
            case "postcopy-paused" where throughPostcopy:
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "job 'migration in' failed: post-copy migration paused (the source is unreachable)")
            case "postcopy-active", "postcopy-paused", "postcopy-recover":
                if !throughPostcopy { return .postcopy }
                _ = try? await change.get()
            default:
                // A Finish comes after the source's Perform returned, so the stream is (nearly) in.
                guard throughPostcopy || ContinuousClock.now < deadline else {
                    throw RemoteError(code: .operationFailed, domain: .qemu, detail: "job 'migration in' did not complete")
                }
                _ = try? await change.get()
            }
        }
    }

    /// The client that drove migrations phase by phase has gone: an incoming migration it
    /// prepared stops its waiting QEMU, an outgoing one it began is cancelled (the guest, if
    /// paused for it, runs again here), so the guest ends up running on exactly one host.
    func abandonMigrations(of connectionID: UInt64) async {
        let (outgoing, incoming) = migrations.driven(by: connectionID)
        for uuid in incoming {
            guard let record = registry.record(uuid: uuid), let state = migrations.incoming(uuid) else { continue }
            try? await jobs.run(record.name, "migration cleanup") { () async throws(RemoteError) in
                guard self.migrations.incoming(uuid) != nil else { return }
                self.migrations.setIncoming(uuid, nil)
                _ = self.longJobs.end(uuid, outcome: .cancelled, error: "the client that prepared the migration went away")
                if self.registry.guest(uuid) != nil { try? await self.destroy(uuid, graceful: false) }
                if state.addedTransient { self.registry.removeIfTransient(uuid) }
                self.logger.warning("incoming migration abandoned: its client went away", metadata: ["name": "\(record.name)"])
            }
        }
        for uuid in outgoing {
            guard let record = registry.record(uuid: uuid), let state = migrations.outgoing(uuid) else { continue }
            try? await jobs.run(record.name, "migration cleanup") { () async throws(RemoteError) in
                guard self.migrations.outgoing(uuid)?.connectionID == connectionID else { return }
                if state.performed, self.registry.guest(uuid) != nil {
                    try? await self.migrationConfirm(uuid, flags: state.flags, cancelled: true)
                } else {
                    self.migrations.setOutgoing(uuid, nil)
                }
                self.logger.warning("outgoing migration abandoned: its client went away", metadata: ["name": "\(record.name)"])
            }
        }
    }

    // MARK: - Helpers

    /// `bandwidth` MiB/s as QEMU's bytes per second; 0 is unlimited.
    static func bandwidthBytes(_ mebibytes: UInt64) -> Int64 {
        guard mebibytes > 0, mebibytes <= MigrationParameters.maximumBandwidth else { return unlimitedMigrationBandwidth }
        return Int64(mebibytes) * (1 << 20)
    }

    /// `xml` with its `<name>` replaced.
    static func renamedXML(_ xml: String, to name: String) -> String {
        guard var document = try? XMLTreeParser.parse(xml) else { return xml }
        rename(&document, to: name)
        return XMLTreeWriter(libxml2Style: true).write(document)
    }

    /// Whether this host has IPv6 (then QEMU listens on `[::]`, which takes IPv4 too).
    static var hostHasIPv6: Bool {
        let descriptor = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_any
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
        }
    }

    /// A port of the migration range (`migration_port_min`…`max`) nothing listens on, for a
    /// migration stream or a storage copy's NBD server; probed off the actor's thread.
    func freeMigrationPort(host: String) async throws(RemoteError) -> Int {
        let range = configuration.migrationPorts
        guard let free = try await BlockingWork.run({ Self.freePort(in: range, host: host) }) else {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "Unable to find an unused port in range 'migration' (\(range.lowerBound)-\(range.upperBound))")
        }
        return free
    }

    /// The first port of `range` nothing listens on (bound and released to find out).
    static func freePort(in range: ClosedRange<Int>, host: String) -> Int? {
        let six = host.hasPrefix("[") || host.contains(":")
        for port in range {
            let descriptor = socket(six ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { return nil }
            defer { close(descriptor) }
            var reuse: Int32 = 1
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
            let bound: Bool
            if six {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = in_port_t(UInt16(port).bigEndian)
                address.sin6_addr = in6addr_any
                bound = withUnsafePointer(to: &address) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 } }
            } else {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                address.sin_addr.s_addr = INADDR_ANY
                bound = withUnsafePointer(to: &address) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
            }
            if bound { return port }
        }
        return nil
    }
}

/// A migration URI as libvirt takes it: `tcp:HOST[:PORT]` or `tcp://HOST[:PORT]` (IPv6 in
/// brackets).
struct MigrationURI: Sendable, Equatable {
    var host: String
    var port: Int?

    init(_ text: String) throws(RemoteError) {
        var rest: Substring
        if text.hasPrefix("tcp://") {
            rest = text.dropFirst(6)
        } else if text.hasPrefix("tcp:") {
            rest = text.dropFirst(4)
        } else {
            throw RemoteError(code: .argumentUnsupported, domain: .qemu, detail: "unsupported scheme in migration URI \(text)")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "malformed migration URI \(text)") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "malformed migration URI \(text)")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        } else {
            host = String(rest)
        }
        guard !host.isEmpty, host.utf8.count <= 255, !host.contains(where: { $0 == "," || $0 == " " || $0 == "\0" }) else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "malformed migration URI \(text)")
        }
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "malformed migration URI \(text)")
            }
            port = value
        }
    }

    /// The URI QEMU's `migrate` takes.
    var qemuURI: String { host.contains(":") ? "tcp:[\(host)]:\(port ?? 0)" : "tcp:\(host):\(port ?? 0)" }
}

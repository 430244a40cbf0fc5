import CorralJSON
import CorralProtocol
import DomainXML
import Foundation
import Glibc
import Logging
import NIOCore
import POSIXSupport
import QEMUCommandLine
import QMP

/// What a starting QEMU waits for (`-incoming defer`): a save image's stream (a restore), or a
/// migration from another host.
enum IncomingMigration: Sendable {
    case stream(IncomingStream)
    case network(IncomingNetworkMigration)

    /// The stream's restore-specific setting, when it is one.
    var reportsRestoredPause: Bool {
        if case .stream(let stream) = self { return stream.reportsRestoredPause }
        return false
    }
}

extension Optional where Wrapped == IncomingMigration {
    /// Whether this is an incoming migration from another host.
    var isNetwork: Bool {
        if case .network? = self { return true }
        return false
    }
}

/// A migration stream a starting QEMU loads (a restore): the descriptor it reads from.
struct IncomingStream: Sendable {
    var descriptor: Int32
    /// The image file QEMU's stream is read from (directly or through a decompressor): it
    /// shares its offset with what QEMU (or the decompressor) has read, which is the restore's
    /// progress; and where the stream starts and ends in it.
    var imageDescriptor: Int32
    var streamStart: Int64
    var imageSize: Int64
    /// A guest restored paused because it was paused when saved is reported suspended as
    /// restored (libvirt's `SUSPENDED_RESTORED`); one paused on request, as paused.
    var reportsRestoredPause: Bool
}

/// `VIR_DOMAIN_SAVE_*` (save, restore and managed save).
struct SaveFlags: OptionSet, Sendable {
    let rawValue: UInt32
    static let bypassCache = SaveFlags(rawValue: 1)
    static let running = SaveFlags(rawValue: 2)
    static let paused = SaveFlags(rawValue: 4)
    static let resetNVRAM = SaveFlags(rawValue: 8)
}

extension DomainDriver {
    /// The name QEMU's monitor knows the save file by (`getfd`, `fd:NAME`).
    static let migrationDescriptorName = "migrate"
    /// libvirt's bandwidth for a save (`QEMU_DOMAIN_MIG_BANDWIDTH_MAX` MiB/s): unlimited.
    static let unlimitedMigrationBandwidth: Int64 = (Int64.max / (1 << 20)) * (1 << 20)

    /// The save image's XML of a running guest: the definition it runs by (hot-plugged devices
    /// included), without what this run added; or the caller's replacement, which must be the
    /// same domain. Both in libvirt's migratable form (``DomainMigratableForm``), as libvirt's
    /// save images and migrations carry it.
    ///
    /// A guest with a transient disk is neither saved nor migrated: its writes are in an overlay
    /// that goes when this QEMU ends, and a restored guest would write to the image itself.
    func saveImageXML(_ guest: GuestRuntime, record: DomainRecord, replacement: String?, allowingName newName: String? = nil) throws(RemoteError) -> String {
        if guest.devices.disks.contains(where: { $0.transientOverlay != nil }) {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "migration with transient disk is not supported")
        }
        if let replacement {
            let parsed: ParsedDomain
            do throws(DomainXMLError) { parsed = try DomainXMLParser.parse(replacement, options: options) } catch { throw RemoteError(domainXMLError: error) }
            guard parsed.definition.name == record.name || parsed.definition.name == newName else {
                throw RemoteError(code: .invalidArgument, domain: .domain, detail: "Target domain name '\(parsed.definition.name)' does not match source '\(record.name)'")
            }
            guard RemoteUUID(parsed.definition.uuid) == record.uuid else {
                throw RemoteError(code: .invalidArgument, domain: .domain, detail: "Target domain uuid '\(parsed.definition.uuid)' does not match source '\(record.uuid)'")
            }
            return DomainXMLFormatter.format(DomainMigratableForm.of(parsed.document))
        }
        return (try? MigratableXML.running(guest, options: options)) ?? record.xml
    }

    /// Saves a running guest's state to `path` in libvirt's image format and stops it: the
    /// vCPUs pause, the header and XML are written, QEMU writes its migration stream into the
    /// same file after them (the daemon hands it the descriptor; no guest memory passes through
    /// the daemon), and the image is marked complete before QEMU goes. On failure the guest runs
    /// on as before and a file made here is removed. The caller holds the domain's job.
    func save(_ uuid: RemoteUUID, to path: String, replacementXML: String?, flags: SaveFlags) async throws(RemoteError) {
        guard let record = registry.record(uuid: uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
        }
        let guest = try running(uuid)
        let xml = try saveImageXML(guest, record: record, replacement: replacementXML)
        // libvirt's save cookie follows the XML (what QEMU made of the CPU, <slirpHelper/>).
        let cookie = (try? liveDocument(guest)).map { SaveCookie.text($0, asked: guest.askedCPU) }
        let wasRunning = guest.lifecycle.status.state == .running
        if wasRunning {
            await apply(.pauseRequested(.save), to: uuid)
            do throws(QMPError) { try await guest.qmp.stop() } catch { throw Self.monitorError(error) }
        }
        longJobs.begin(uuid, .save, qmp: guest.qmp)
        var target: SaveImageFile.Target?
        do throws(RemoteError) {
            let made = try await BlockingWork.run { () throws(RemoteError) -> SaveImageFile.Target in
                try SaveImageFile.create(path, data: SaveImageData(xml: xml, cookie: cookie), wasRunning: wasRunning)
            }
            target = made
            try await Self.migrateToDescriptor(made.descriptor, qmp: guest.qmp, job: "domain save", tracking: (longJobs, uuid))
            let durable = flags.contains(.bypassCache)
            try await BlockingWork.run { () throws(RemoteError) in try SaveImageFile.finish(path, header: made.header, durable: durable) }
        } catch {
            if let target { _ = try? await BlockingWork.run { SaveImageFile.discard(target, path: path) } }
            await resumeAfterFailedSave(uuid, guest: guest, wasRunning: wasRunning)
            endJob(uuid, handle: record.handle, error: error)
            throw error
        }
        // The state is on disk: the guest stops, reported as saved.
        await apply(.saved, to: uuid)
        endJob(uuid, handle: record.handle, error: nil)
        try await destroy(uuid, graceful: false)
        logger.info("saved domain", metadata: ["name": "\(record.name)", "path": "\(path)"])
    }

    /// Ends the long job on `uuid` (completed, or failed or cancelled by `error`) and sends the
    /// job-completed event with its statistics.
    func endJob(_ uuid: RemoteUUID, handle: RemoteDomain, error: RemoteError?) {
        let outcome: LongJobs.JobType = error == nil ? .completed : error?.code == .operationAborted ? .cancelled : .failed
        guard let record = longJobs.end(uuid, outcome: outcome, error: error?.message) else { return }
        events.jobCompleted(handle, parameters: LongJobs.parameters(record))
    }

    /// Hands QEMU `descriptor` and has it write its migration stream there; returns once QEMU
    /// reports the migration completed. The descriptor is closed here.
    static func migrateToDescriptor(_ descriptor: Int32, qmp: QMPClient, job: String, tracking: (LongJobs, RemoteUUID)?) async throws(RemoteError) {
        defer { close(descriptor) }
        do throws(QMPError) {
            _ = try await qmp.execute("migrate-set-parameters", arguments: .object([("max-bandwidth", .integer(unlimitedMigrationBandwidth))]))
            _ = try await qmp.execute("getfd", arguments: .object([("fdname", .string(migrationDescriptorName))]), passing: descriptor)
            _ = try await qmp.execute("migrate", arguments: .object([("uri", .string("fd:" + migrationDescriptorName))]))
        } catch {
            throw monitorError(error)
        }
        try await waitForMigration(qmp: qmp, job: job, tracking: tracking)
    }

    /// Where a watched migration stops being watched: QEMU's status names.
    enum MigrationStop: String, Sendable {
        case completed
        /// Paused before the device state goes (`pause-before-switchover`).
        case beforeSwitchover = "pre-switchover"
        /// Switched to post-copy.
        case postcopy = "postcopy-active"
    }

    /// Watches `query-migrate` until the migration completes (or reaches `returningAt`: a pause
    /// before the switch-over, or the switch to post-copy); returns the status it ended at.
    /// QEMU's failure (its own words) or a cancel throws.
    /// With `tracking`, each look's figures are the long job's progress.
    /// `progress`, when given, measures the job instead of QEMU's figures (an incoming stream
    /// has none).
    /// With `statusEvents` (QEMU's `events` migration capability on), QEMU's `MIGRATION` event
    /// says when the status changes, and `query-migrate` runs only that often plus every 50 ms
    /// for the progress; without, it is polled every 10 ms, every millisecond near the end.
    /// A look holds QEMU's main lock, which the migration thread and a TCG vCPU need too: a
    /// migration watched by events goes faster.
    @discardableResult
    static func waitForMigration(
        qmp: QMPClient, job: String, tracking: (LongJobs, RemoteUUID)? = nil, returningAt stop: MigrationStop? = nil,
        statusEvents: Bool = false, progress: (@Sendable () -> LongJobs.Progress)? = nil
    ) async throws(RemoteError) -> MigrationStop {
        var finalLooks = 0
        while true {
            // Waiting begins before the look, so a change between the two is not missed.
            var change: EventLoopFuture<QMPEvent?>?
            if statusEvents { change = qmp.nextEvent(named: ["MIGRATION"], within: .milliseconds(50)) }
            let info: JSONValue
            do throws(QMPError) { info = try await qmp.execute("query-migrate") } catch { throw monitorError(error) }
            if let (jobs, uuid) = tracking {
                if let progress {
                    jobs.update(uuid, progress())
                } else if info["ram"] != nil {
                    jobs.update(uuid, LongJobs.Progress(queryMigrate: info))
                }
            }
            let status = info["status"]?.stringValue
            if let stop, status == stop.rawValue { return stop }
            switch status {
            case "completed" where info["ram"] != nil && (info["total-time"]?.intValue ?? 0) == 0 && finalLooks < 20:
                // QEMU reports the state a moment before its final figures (total time and
                // downtime, still 0), and the status event comes in that moment: look again.
                finalLooks += 1
                try? await Task.sleep(for: .milliseconds(1))
            case "completed":
                return .completed
            case "failed":
                let reason = info["error-desc"]?.stringValue.map { ": \($0)" } ?? ""
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "job '\(job)' unexpectedly failed\(reason)")
            case "cancelled", "cancelling":
                throw RemoteError(code: .operationAborted, domain: .qemu, detail: "job '\(job)' canceled by client")
            default:
                if let change {
                    _ = try? await change.get()
                } else {
                    // Every 10 ms while memory streams; every millisecond near the end (the
                    // device state, or little memory left), so the completion is seen at once.
                    let remaining = info["ram"]?["remaining"]?.intValue ?? Int64.max
                    let nearTheEnd = status == "device" || status == MigrationStop.beforeSwitchover.rawValue || remaining < 32 << 20
                    try? await Task.sleep(for: .milliseconds(nearTheEnd ? 1 : 10))
                }
            }
        }
    }

    /// A save that failed: QEMU's migration is cancelled and a guest that ran runs again.
    private func resumeAfterFailedSave(_ uuid: RemoteUUID, guest: GuestRuntime, wasRunning: Bool) async {
        _ = try? await guest.qmp.execute("migrate_cancel")
        guard wasRunning else { return }
        if (try? await guest.qmp.cont()) != nil { await apply(.resumedByRequest, to: uuid) }
    }

    /// The migration stream QEMU loads from `descriptor` once it has started waiting for one.
    static func loadIncoming(_ incoming: IncomingStream, qmp: QMPClient, tracking: (LongJobs, RemoteUUID)? = nil) async throws(RemoteError) {
        do throws(QMPError) {
            _ = try await qmp.execute("getfd", arguments: .object([("fdname", .string(migrationDescriptorName))]), passing: incoming.descriptor)
            _ = try await qmp.execute("migrate-incoming", arguments: .object([("uri", .string("fd:" + migrationDescriptorName))]))
        } catch {
            throw monitorError(error)
        }
        do throws(RemoteError) {
            try await waitForMigration(qmp: qmp, job: "migration in", tracking: tracking) {
                // How far QEMU has read the image: the offset it shares with the daemon's descriptor.
                let position = Int64(lseek(incoming.imageDescriptor, 0, SEEK_CUR))
                let total = UInt64(max(0, incoming.imageSize - incoming.streamStart))
                let done = UInt64(max(0, min(position, incoming.imageSize) - incoming.streamStart))
                var progress = LongJobs.Progress()
                progress.memoryTotal = total
                progress.memoryProcessed = done
                progress.memoryRemaining = total - min(done, total)
                return progress
            }
        } catch {
            // A stream QEMU cannot load ends QEMU itself: its log says why.
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "failed to restore the domain's state: \(error.str2 ?? "")")
        }
    }

    /// Restores a guest from the save image at `path`: QEMU starts waiting for a migration
    /// stream, loads it from the file (through the image's decompressor when it has one), and
    /// runs if the guest ran when saved (or `flags` say so). A domain defined with the image's
    /// name and UUID is restored in place; otherwise the guest comes back transient. The caller
    /// holds the job of the domain's name.
    func restore(_ parsed: ParsedDomain, image: SaveImageHeader, descriptor: Int32, flags: SaveFlags) async throws(RemoteError) -> RemoteDomain {
        var stream = descriptor
        var decompressor: ChildProcess?
        if let command = image.format.decompressor {
            guard let program = Self.findProgram(command[0]) else {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "Compression program for image format '\(image.format)' not found")
            }
            do throws(SystemError) {
                let child = try ChildProcess.spawn(program, Array(command.dropFirst()), standardInput: .descriptor(descriptor), standardOutput: .pipe, standardError: .null)
                decompressor = child
                stream = child.standardOutput ?? -1
            } catch {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot run \(program): \(error)")
            }
        }
        defer {
            if let decompressor {
                if stream >= 0 { close(stream) }
                decompressor.signal(SIGTERM)
                decompressor.wait(timeout: 2)
            }
        }
        let paused = flags.contains(.paused) || (!image.wasRunning && !flags.contains(.running))
        var status = stat()
        let imageSize = fstat(descriptor, &status) == 0 ? Int64(status.st_size) : 0
        let incoming = IncomingStream(
            descriptor: stream, imageDescriptor: descriptor, streamStart: Int64(image.streamOffset), imageSize: imageSize,
            reportsRestoredPause: !flags.contains(.paused))
        let handle = RemoteDomain(name: parsed.definition.name, uuid: RemoteUUID(parsed.definition.uuid) ?? RemoteUUID(high: 0, low: 0), id: -1)
        longJobs.begin(handle.uuid, .restore, qmp: nil)
        do throws(RemoteError) {
            let started: RemoteDomain
            if let existing = registry.record(uuid: handle.uuid), existing.name == parsed.definition.name {
                guard !existing.isActive else {
                    throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain '\(existing.name)' is already active")
                }
                started = try await start(handle.uuid, paused: paused, autodestroyConnection: nil, live: parsed, incoming: .stream(incoming))
            } else {
                let record = try registry.addTransient(parsed)
                do throws(RemoteError) {
                    started = try await start(record.uuid, paused: paused, autodestroyConnection: nil, incoming: .stream(incoming))
                } catch {
                    registry.removeIfTransient(record.uuid)
                    throw error
                }
            }
            endJob(handle.uuid, handle: started, error: nil)
            return started
        } catch {
            endJob(handle.uuid, handle: handle, error: error)
            throw error
        }
    }

    /// `name` on the daemon's `PATH` (or the usual system directories).
    static func findProgram(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin", "/bin"] {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

// MARK: - Managed save

extension DomainDriver {
    /// Where a domain's managed save image lives (libvirt's `save/NAME.save` in its state
    /// directory).
    nonisolated func managedSavePath(for name: String) -> String { configuration.stateDirectory + "/save/" + name + ".save" }

    /// Notes which domains have a managed save image on disk (at daemon start).
    nonisolated func findManagedSaveImages() {
        for record in registry.records(where: { _ in true }) where FileManager.default.fileExists(atPath: managedSavePath(for: record.name)) {
            registry.updateRuntime(record.uuid) { $0.hasManagedSave = true }
        }
    }

    /// `virsh managedsave`: saves a persistent guest to its managed image; the next start
    /// restores it. The caller holds the domain's job.
    func managedSave(_ uuid: RemoteUUID, flags: SaveFlags) async throws(RemoteError) {
        guard let record = registry.record(uuid: uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
        }
        guard record.persistent else {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot do managed save for transient domain")
        }
        _ = try running(uuid)
        let path = managedSavePath(for: record.name)
        try await BlockingWork.run { () throws(RemoteError) in
            do {
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw RemoteError(code: .systemError, domain: .qemu, detail: "cannot create the managed save directory: \(error)")
            }
        }
        try await save(uuid, to: path, replacementXML: nil, flags: flags)
        registry.updateRuntime(uuid) { $0.hasManagedSave = true }
    }

    /// Removes a domain's managed save image (`managedsave-remove`, a forced boot, an undefine
    /// that asks for it).
    func removeManagedSave(_ uuid: RemoteUUID) async throws(RemoteError) {
        guard let record = registry.record(uuid: uuid) else { return }
        let path = managedSavePath(for: record.name)
        try await BlockingWork.run { () throws(RemoteError) in
            guard unlink(path) == 0 || errno == ENOENT else {
                throw SaveImageFile.systemError("Failed to remove managed save file '\(path)'")
            }
        }
        registry.updateRuntime(uuid) { $0.hasManagedSave = false }
    }

    /// Starts a defined domain, from its managed save image when it has one (libvirt's
    /// `qemuDomainObjStart`): `forceBoot` discards the image and boots; an image left
    /// incomplete is discarded with a warning and the guest boots; a good image is removed once
    /// the guest runs from it. The caller holds the domain's job.
    func startDefined(
        _ uuid: RemoteUUID, paused: Bool, autodestroyConnection: UInt64?, forceBoot: Bool = false, resetNVRAM: Bool = false
    ) async throws(RemoteError) -> RemoteDomain {
        guard let record = registry.record(uuid: uuid), record.hasManagedSave, !record.isActive else {
            return try await start(uuid, paused: paused, autodestroyConnection: autodestroyConnection, resetNVRAM: resetNVRAM)
        }
        let path = managedSavePath(for: record.name)
        if forceBoot {
            try await removeManagedSave(uuid)
            return try await start(uuid, paused: paused, autodestroyConnection: autodestroyConnection, resetNVRAM: resetNVRAM)
        }
        let image: (header: SaveImageHeader, data: SaveImageData, descriptor: Int32?)
        do throws(RemoteError) {
            image = try await BlockingWork.run { () throws(RemoteError) in try SaveImageFile.read(path, keepOpen: true) }
        } catch where error.str2 == "save image is incomplete" {
            logger.warning("ignoring incomplete managed state", metadata: ["path": "\(path)"])
            try await removeManagedSave(uuid)
            return try await start(uuid, paused: paused, autodestroyConnection: autodestroyConnection, resetNVRAM: resetNVRAM)
        }
        guard let descriptor = image.descriptor else { throw SaveImageHeader.failure("failed to read qemu header") }
        defer { close(descriptor) }
        let parsed: ParsedDomain
        do throws(DomainXMLError) { parsed = try DomainXMLParser.parse(image.data.xml, options: options) } catch { throw RemoteError(domainXMLError: error) }
        guard RemoteUUID(parsed.definition.uuid) == uuid, parsed.definition.name == record.name else {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "the managed save image of '\(record.name)' holds another domain")
        }
        let handle = try await restore(parsed, image: image.header, descriptor: descriptor, flags: paused ? .paused : [])
        if autodestroyConnection != nil { registry.updateRuntime(uuid) { $0.runtime?.autodestroyConnection = autodestroyConnection } }
        try await removeManagedSave(uuid)
        return handle
    }
}

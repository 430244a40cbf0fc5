import CorralJSON
import CorralProtocol
import DomainXML
import Foundation
import QMP

/// The storage copy of a migration (`VIR_MIGRATE_NON_SHARED_DISK`/`_INC`), libvirt's way: the
/// destination's QEMU serves its images over NBD; the source's QEMU mirrors each disk into them
/// while the guest runs, the memory migration starts once every mirror has caught up, and the
/// mirrors end, consistent, while the guest is paused before the switch-over.
extension DomainDriver {
    // MARK: - Source

    /// Begin: the disks to copy with their sizes, for the cookie (the destination creates
    /// missing images from them).
    func storageCopyCookie(_ guest: GuestRuntime, definition: DomainDefinition, parameters: MigrationParameters) async throws(RemoteError) -> MigrationNBD {
        let disks = try StorageCopyDisk.selection(definition: definition, devices: guest.devices, requested: parameters.disks)
        let nodes: JSONValue
        do throws(QMPError) {
            nodes = try await guest.qmp.execute("query-named-block-nodes", arguments: .object([("flat", .bool(true))]))
        } catch {
            throw Self.monitorError(error)
        }
        var nbd = MigrationNBD()
        for disk in disks {
            let node = nodes.arrayValue?.first { $0["node-name"]?.stringValue == disk.formatNode }
            guard let size = node?["image"]?["virtual-size"]?.intValue, size >= 0 else { continue }
            nbd.disks.append(.init(target: disk.target, capacity: UInt64(size)))
        }
        return nbd
    }

    /// Perform, before the memory: mirrors every copied disk into the destination's NBD server
    /// at `host`:`port` and waits until all have caught up. Returns the disks being mirrored;
    /// on failure nothing is left behind.
    func startStorageMirrors(
        _ uuid: RemoteUUID, guest: GuestRuntime, definition: DomainDefinition, parameters: MigrationParameters, flags: MigrationFlags,
        host: String, port: Int, bandwidth: UInt64, tls: String?
    ) async throws(RemoteError) -> [StorageCopyDisk] {
        let disks = try StorageCopyDisk.selection(definition: definition, devices: guest.devices, requested: parameters.disks)
        var started: [StorageCopyDisk] = []
        do throws(RemoteError) {
            for disk in disks {
                // Counted before its nodes are added: a half-added disk is taken away too.
                started.append(disk)
                do throws(QMPError) {
                    for node in disk.mirrorTargetArguments(host: host, port: port, tlsCredentials: tls) {
                        _ = try await guest.qmp.execute("blockdev-add", arguments: node)
                    }
                    // The migration's bandwidth limits each mirror too (libvirt's rule); 0 is unlimited.
                    let speed = bandwidth > 0 && bandwidth <= MigrationParameters.maximumBandwidth ? Int64(bandwidth) << 20 : 0
                    _ = try await guest.qmp.execute(
                        "blockdev-mirror", arguments: disk.mirrorArguments(incremental: flags.contains(.nonSharedIncremental), speed: speed))
                } catch {
                    throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot copy the storage of disk \(disk.target): \(error)")
                }
            }
            try await waitForMirrors(uuid, guest: guest, disks: disks) { state in
                if case .ready = state { return true }
                return false
            }
        } catch {
            await abandonStorageMirrors(guest: guest, disks: started)
            throw error
        }
        return disks
    }

    /// Ends the caught-up mirrors with the destination's images consistent (the guest is paused
    /// before the switch-over), then takes their nodes away.
    func completeStorageMirrors(_ uuid: RemoteUUID, guest: GuestRuntime, disks: [StorageCopyDisk]) async throws(RemoteError) {
        do throws(QMPError) {
            for disk in disks {
                _ = try await guest.qmp.execute("block-job-cancel", arguments: .object([("device", .string(disk.exportName))]))
            }
        } catch {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot finish the storage copy: \(error)")
        }
        try await waitForMirrors(uuid, guest: guest, disks: disks, checkingAbort: false) { state in
            if case .concluded = state { return true }
            return false
        }
        await removeMirrorJobsAndNodes(guest: guest, disks: disks)
    }

    /// A failed or cancelled migration: the mirrors stop at once, whatever the destination holds.
    func abandonStorageMirrors(guest: GuestRuntime, disks: [StorageCopyDisk]) async {
        for disk in disks {
            _ = try? await guest.qmp.execute("block-job-cancel", arguments: .object([("device", .string(disk.exportName)), ("force", .bool(true))]))
        }
        // A forced cancel ends a job at once; a short wait lets QEMU conclude it before the dismiss.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard let jobs = try? await guest.qmp.execute("query-jobs") else { break }
            let open = disks.contains { disk in
                switch MirrorJobState.of(disk.exportName, jobs: jobs, blockJobs: .array([])) {
                case .concluded, .missing: false
                case .copying, .ready: true
                }
            }
            if !open { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        await removeMirrorJobsAndNodes(guest: guest, disks: disks)
    }

    private func removeMirrorJobsAndNodes(guest: GuestRuntime, disks: [StorageCopyDisk]) async {
        for disk in disks {
            _ = try? await guest.qmp.execute("job-dismiss", arguments: .object([("id", .string(disk.exportName))]))
            for node in [disk.mirrorFormatNode, disk.mirrorStorageNode] {
                _ = try? await guest.qmp.execute("blockdev-del", arguments: .object([("node-name", .string(node))]))
            }
        }
    }

    /// Polls the mirror jobs until `done` holds for each, reporting the copy's progress to the
    /// domain's job; a job that ends with an error, vanishes, or a `domjobabort` fails it.
    private func waitForMirrors(
        _ uuid: RemoteUUID, guest: GuestRuntime, disks: [StorageCopyDisk], checkingAbort: Bool = true, done: (MirrorJobState) -> Bool
    ) async throws(RemoteError) {
        while true {
            let jobs: JSONValue
            let blockJobs: JSONValue
            do throws(QMPError) {
                jobs = try await guest.qmp.execute("query-jobs")
                blockJobs = try await guest.qmp.execute("query-block-jobs")
            } catch {
                throw Self.monitorError(error)
            }
            var processed: UInt64 = 0
            var total: UInt64 = 0
            var finished = true
            for disk in disks {
                let state = MirrorJobState.of(disk.exportName, jobs: jobs, blockJobs: blockJobs)
                switch state {
                case .copying(let offset, let length):
                    processed &+= offset
                    total &+= length
                case .ready(let length):
                    processed &+= length
                    total &+= length
                case .concluded(let error?):
                    throw RemoteError(code: .operationFailed, domain: .qemu, detail: "migration of disk \(disk.target) failed: \(error)")
                case .concluded(nil):
                    if !done(state) {
                        throw RemoteError(code: .operationFailed, domain: .qemu, detail: "migration of disk \(disk.target) failed: the mirror ended early")
                    }
                case .missing:
                    throw RemoteError(code: .operationFailed, domain: .qemu, detail: "migration of disk \(disk.target) failed: its mirror job is gone")
                }
                if !done(state) { finished = false }
            }
            let abort = longJobs.updateStorage(uuid, processed: processed, total: total)
            if finished { return }
            if abort && checkingAbort {
                throw RemoteError(code: .operationAborted, domain: .qemu, detail: "migration out job: canceled by client")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The running guest's definition (its live XML), whose disks match its device names.
    func liveDefinition(_ guest: GuestRuntime) throws(RemoteError) -> DomainDefinition {
        do throws(DomainXMLError) {
            return try DomainXMLParser.parse(guest.liveXML, options: options).definition
        } catch {
            throw RemoteError(domainXMLError: error)
        }
    }

    // MARK: - Destination

    /// Prepare, before QEMU starts: creates the images the copy writes into that do not exist
    /// yet, as volumes of the pool holding their directory (libvirt's rule; an incremental copy
    /// needs its images, with their backing chains, to exist).
    func precreateMigratedStorage(_ definition: DomainDefinition, nbd: MigrationNBD?, parameters: MigrationParameters, flags: MigrationFlags) async throws(RemoteError) {
        guard let nbd else { return }
        for announced in nbd.disks {
            guard let disk = definition.devices.disks.first(where: { $0.targetDevice == announced.target }) else {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to find disk by target: \(announced.target)")
            }
            guard StorageCopyDisk.isCopied(disk, requested: parameters.disks) else { continue }
            let path: String
            switch disk.type {
            case .file:
                guard let source = disk.source else { continue }
                path = source
            case .volume:
                guard let pool = disk.sourcePool, let volume = disk.sourceVolume else { continue }
                if let volumes, (try? volumes.resolve(pool: pool, volume: volume)) != nil { continue }
                throw RemoteError(code: .noStorageVolume, domain: .storage, detail: "no storage vol with matching name '\(volume)'")
            default:
                if let source = disk.source, FileManager.default.fileExists(atPath: source) { continue }
                throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot precreate storage for disk type '\(disk.type.rawValue)'")
            }
            if FileManager.default.fileExists(atPath: path) { continue }
            if flags.contains(.nonSharedIncremental) {
                throw RemoteError(
                    code: .operationUnsupported, domain: .qemu,
                    detail: "pre-creation of storage targets for incremental storage migration is not supported")
            }
            guard let volumes else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "cannot create the image \(path) for the storage copy")
            }
            try await volumes.precreate(path: path, capacity: announced.capacity, format: disk.format ?? "raw")
        }
    }

    /// Prepare, once QEMU waits for the guest: an NBD server on a port of the migration range,
    /// exporting every copied disk writable. Returns the port.
    func startStorageExports(
        _ guest: GuestRuntime, definition: DomainDefinition, parameters: MigrationParameters, listenHost: String, tls: String?
    ) async throws(RemoteError) -> Int {
        let disks = try StorageCopyDisk.selection(definition: definition, devices: guest.devices, requested: parameters.disks)
        let port: Int
        if let given = parameters.disksPort { port = Int(given) } else { port = try await freeMigrationPort(host: listenHost) }
        let host = listenHost.hasPrefix("[") ? String(listenHost.dropFirst().dropLast()) : listenHost
        do throws(QMPError) {
            _ = try await guest.qmp.execute("nbd-server-start", arguments: StorageCopyDisk.serverStartArguments(host: host, port: port, tlsCredentials: tls))
            for disk in disks {
                _ = try await guest.qmp.execute("block-export-add", arguments: disk.exportArguments)
            }
        } catch {
            _ = try? await guest.qmp.execute("nbd-server-stop")
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot serve the disks for the storage copy: \(error)")
        }
        return port
    }
}

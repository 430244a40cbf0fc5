import CorralJSON
import CorralProtocol
import Foundation
import Glibc
import QMP

/// `VIR_DUMP_*`.
struct DumpFlags: OptionSet, Sendable {
    let rawValue: UInt32
    static let crash = DumpFlags(rawValue: 1)
    static let live = DumpFlags(rawValue: 2)
    static let bypassCache = DumpFlags(rawValue: 4)
    static let reset = DumpFlags(rawValue: 8)
    static let memoryOnly = DumpFlags(rawValue: 16)
}

/// `virDomainCoreDumpFormat`, and QEMU's name of each (`dump-guest-memory`'s `format`).
enum CoreDumpFormat: UInt32, Sendable {
    case raw = 0, kdumpZlib, kdumpLZO, kdumpSnappy, windowsDump

    var qemuName: String {
        switch self {
        case .raw: "elf"
        case .kdumpZlib: "kdump-zlib"
        case .kdumpLZO: "kdump-lzo"
        case .kdumpSnappy: "kdump-snappy"
        case .windowsDump: "win-dmp"
        }
    }
}

extension DomainDriver {
    /// The name QEMU's monitor knows a dump file by.
    static let dumpDescriptorName = "dump"

    /// `virsh dump`: the guest's memory into `path` — with `memoryOnly`, an ELF (or kdump, or
    /// Windows) core of its memory from QEMU's `dump-guest-memory`; otherwise QEMU's migration
    /// stream, as libvirt writes it. The vCPUs pause meanwhile unless `live`; afterwards the
    /// guest runs on, is reset (`reset`), or ends as crashed (`crash`). A long job: its progress
    /// is reported and it ends with the job-completed event. The caller holds the domain's job.
    func coreDump(_ uuid: RemoteUUID, to path: String, format: CoreDumpFormat, flags: DumpFlags) async throws(RemoteError) {
        guard let record = registry.record(uuid: uuid) else {
            throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching uuid '\(uuid)'")
        }
        let guest = try running(uuid)
        if !flags.contains(.memoryOnly) && format != .raw {
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "kdump-compressed format is only supported with memory-only dump")
        }
        let pausedHere = !flags.contains(.live) && guest.lifecycle.status.state == .running
        if pausedHere {
            await apply(.pauseRequested(.dump), to: uuid)
            do throws(QMPError) { try await guest.qmp.stop() } catch { throw Self.monitorError(error) }
        }
        longJobs.begin(uuid, .dump, qmp: guest.qmp, cancellable: !flags.contains(.memoryOnly))
        var target: SaveImageFile.Target?
        do throws(RemoteError) {
            let made = try await BlockingWork.run { () throws(RemoteError) in try SaveImageFile.createPlain(path) }
            target = made
            if flags.contains(.memoryOnly) {
                try await Self.dumpGuestMemory(made.descriptor, format: format, qmp: guest.qmp, tracking: (longJobs, uuid))
            } else {
                try await Self.migrateToDescriptor(made.descriptor, qmp: guest.qmp, job: "domain core dump", tracking: (longJobs, uuid))
            }
            if flags.contains(.bypassCache) {
                try await BlockingWork.run { () throws(RemoteError) in try SaveImageFile.makeDurable(path) }
            }
        } catch {
            if let target { _ = try? await BlockingWork.run { SaveImageFile.discard(target, path: path) } }
            if pausedHere, (try? await guest.qmp.cont()) != nil { await apply(.resumedByRequest, to: uuid) }
            endJob(uuid, handle: record.handle, error: error)
            throw error
        }
        endJob(uuid, handle: record.handle, error: nil)
        if flags.contains(.crash) {
            await apply(.dumpedForCrash, to: uuid)
            try await destroy(uuid, graceful: false)
            return
        }
        if flags.contains(.reset) { _ = try? await guest.qmp.systemReset() }
        if pausedHere {
            do throws(QMPError) { try await guest.qmp.cont() } catch {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "resuming after dump failed")
            }
            await apply(.resumedByRequest, to: uuid)
        }
    }

    /// QEMU's `dump-guest-memory` into `descriptor`, in the background, polled with
    /// `query-dump` until it ends. The descriptor is closed here.
    static func dumpGuestMemory(_ descriptor: Int32, format: CoreDumpFormat, qmp: QMPClient, tracking: (LongJobs, RemoteUUID)) async throws(RemoteError) {
        defer { close(descriptor) }
        var arguments: [(String, JSONValue)] = [("paging", .bool(false)), ("protocol", .string("fd:" + dumpDescriptorName)), ("detach", .bool(true))]
        // QEMU dumps ELF when no format is named (libvirt names none for it).
        if format != .raw { arguments.append(("format", .string(format.qemuName))) }
        do throws(QMPError) {
            _ = try await qmp.execute("getfd", arguments: .object([("fdname", .string(dumpDescriptorName))]), passing: descriptor)
            _ = try await qmp.execute("dump-guest-memory", arguments: .object(arguments))
        } catch {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "memory-only dump failed: \(error.message)")
        }
        while true {
            let info: JSONValue
            do throws(QMPError) { info = try await qmp.execute("query-dump") } catch { throw monitorError(error) }
            var progress = LongJobs.Progress()
            progress.memoryTotal = UInt64(max(0, info["total"]?.intValue ?? 0))
            progress.memoryProcessed = UInt64(max(0, info["completed"]?.intValue ?? 0))
            progress.memoryRemaining = progress.memoryTotal - min(progress.memoryProcessed, progress.memoryTotal)
            tracking.0.update(tracking.1, progress)
            switch info["status"]?.stringValue {
            case "completed":
                return
            case "failed":
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "memory-only dump failed for unknown reason")
            default:
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }
}

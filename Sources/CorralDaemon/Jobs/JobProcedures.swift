import CorralProtocol
import Foundation
import QMP
import XDR

/// `domjobinfo` (with `--completed`) and `domjobabort`: a domain's long job (save, restore),
/// read and stopped without its domain job, which the long job holds.
enum JobProcedures {
    /// `VIR_DOMAIN_JOB_STATS_COMPLETED` and `VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED`.
    static let completedFlag: UInt32 = 1, keepCompletedFlag: UInt32 = 2
    /// `VIR_DOMAIN_ABORT_JOB_POSTCOPY`.
    static let postcopyFlag: UInt32 = 1

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, jobs: LongJobs) {
        table.register(Remote.DomainGetJobInfo.self) { arguments, _ throws(RemoteError) in
            let record = try registry.record(for: arguments.dom)
            guard let job = jobs.running(record.uuid) else {
                guard record.isActive else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
                return .init(
                    type: LongJobs.JobType.none.rawValue, timeElapsed: 0, timeRemaining: 0, dataTotal: 0, dataProcessed: 0, dataRemaining: 0,
                    memTotal: 0, memProcessed: 0, memRemaining: 0, fileTotal: 0, fileProcessed: 0, fileRemaining: 0)
            }
            let progress = job.progress
            let elapsed = UInt64(max(0, Date().timeIntervalSince(job.started) * 1000))
            return .init(
                type: LongJobs.JobType.bounded.rawValue, timeElapsed: elapsed, timeRemaining: 0, dataTotal: progress.memoryTotal,
                dataProcessed: progress.memoryProcessed, dataRemaining: progress.memoryRemaining, memTotal: progress.memoryTotal,
                memProcessed: progress.memoryProcessed, memRemaining: progress.memoryRemaining, fileTotal: 0, fileProcessed: 0, fileRemaining: 0)
        }
        table.register(Remote.DomainGetJobStats.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: completedFlag | keepCompletedFlag, function: "qemuDomainGetJobStats")
            let record = try registry.record(for: arguments.dom)
            if arguments.flags & completedFlag != 0 {
                guard let done = jobs.completed(record.uuid) else { return .init(type: LongJobs.JobType.none.rawValue, params: []) }
                if arguments.flags & keepCompletedFlag == 0 { jobs.forgetCompleted(record.uuid) }
                return .init(type: (done.outcome ?? .completed).rawValue, params: LongJobs.parameters(done))
            }
            guard let job = jobs.running(record.uuid) else {
                guard record.isActive else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
                return .init(type: LongJobs.JobType.none.rawValue, params: [])
            }
            return .init(type: LongJobs.JobType.bounded.rawValue, params: LongJobs.parameters(job))
        }
        @Sendable func abort(_ handle: RemoteDomain, flags: UInt32) async throws(RemoteError) {
            let record = try registry.record(for: handle)
            if flags & postcopyFlag != 0 {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "current job is not outgoing migration in post-copy mode")
            }
            if let job = jobs.running(record.uuid), job.operation == .restore || job.operation == .migrationIn {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot abort incoming migration; use virDomainDestroy instead")
            }
            guard record.isActive else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
            if let job = jobs.running(record.uuid), !job.cancellable {
                // QEMU 7.2 cannot cancel dump-guest-memory nor its snapshot-save job.
                let what = job.operation == .snapshot ? "an internal snapshot" : "memory-only dump"
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "cannot abort \(what)")
            }
            guard let job = jobs.requestAbort(record.uuid), let qmp = job.qmp else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "no job is active on the domain")
            }
            do throws(QMPError) {
                _ = try await qmp.execute("migrate_cancel")
            } catch {
                throw DomainDriver.monitorError(error)
            }
        }
        table.registerAsync(Remote.DomainAbortJob.self) { arguments, _ throws(RemoteError) in
            try await abort(arguments.dom, flags: 0)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainAbortJobFlags.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: postcopyFlag, function: "qemuDomainAbortJobFlags")
            try await abort(arguments.dom, flags: arguments.flags)
            return XDRVoid()
        }
    }
}

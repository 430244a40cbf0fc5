import CorralJSON
import CorralProtocol
import Foundation
import QMP
import Synchronization

/// The long jobs of domains (libvirt's async jobs: save, restore, dump, migration): what runs,
/// since when, how far it is, and how the last one ended. The domain's job (``DomainJobs``) is
/// held meanwhile; these are what `domjobinfo` reads and `domjobabort` stops, without it.
final class LongJobs: Sendable {
    /// `virDomainJobOperation`.
    enum Operation: Int32, Sendable {
        case save = 2, restore = 3, migrationIn = 4, migrationOut = 5, snapshot = 6, snapshotRevert = 7, dump = 8
    }

    /// `virDomainJobType`.
    enum JobType: Int32, Sendable {
        case none = 0, bounded, unbounded, completed, failed, cancelled
    }

    /// How far a job is (QEMU's `query-migrate` figures).
    struct Progress: Sendable, Equatable {
        var memoryTotal: UInt64 = 0
        var memoryProcessed: UInt64 = 0
        var memoryRemaining: UInt64 = 0
        var memoryBytesPerSecond: UInt64 = 0
        var dirtyRate: UInt64 = 0
        var iteration: UInt64 = 0
        var constantPages: UInt64 = 0
        var normalPages: UInt64 = 0
        /// How long the guest was stopped at the end of a migration, ms (QEMU's `downtime`).
        var downtime: UInt64 = 0

        /// The figures of a `query-migrate` reply.
        init(queryMigrate reply: JSONValue) {
            let ram = reply["ram"]
            func number(_ key: String) -> UInt64 { ram?[key]?.intValue.map { UInt64(max(0, $0)) } ?? 0 }
            memoryTotal = number("total")
            memoryProcessed = number("transferred")
            memoryRemaining = number("remaining")
            // QEMU's megabits per second, a JSON number of any size: only a finite, sane value counts.
            var megabits = 0.0
            if case .number(let value)? = ram?["mbps"], value.doubleValue.isFinite { megabits = min(max(value.doubleValue, 0), 1e12) }
            memoryBytesPerSecond = UInt64(megabits * 1_000_000 / 8)
            dirtyRate = number("dirty-pages-rate")
            iteration = number("dirty-sync-count")
            constantPages = number("duplicate")
            normalPages = number("normal")
            downtime = reply["downtime"]?.intValue.map { UInt64(max(0, $0)) } ?? 0
        }

        init() {}
    }

    /// A job that runs or ran.
    struct Record: Sendable {
        var operation: Operation
        var started: Date
        var progress = Progress()
        /// The monitor to cancel it on.
        var qmp: QMPClient?
        /// Whether `migrate_cancel` stops it (QEMU 7.2 cannot cancel `dump-guest-memory`).
        var cancellable = true
        var abortRequested = false
        /// A migration's storage copy: bytes copied and to copy, over every disk.
        var storage: (processed: UInt64, total: UInt64)?
        /// Set when it ended: completed, failed or cancelled, after how long, and why it failed.
        var outcome: JobType?
        var elapsed: TimeInterval?
        var error: String?
    }

    private let state = Mutex<(running: [RemoteUUID: Record], completed: [RemoteUUID: Record])>(([:], [:]))
    /// At most this many finished jobs are kept (transient guests come and go with new UUIDs);
    /// the oldest goes first.
    static let completedLimit = 1024

    /// A job begins on `uuid`.
    func begin(_ uuid: RemoteUUID, _ operation: Operation, qmp: QMPClient?, cancellable: Bool = true) {
        state.withLock { $0.running[uuid] = Record(operation: operation, started: Date(), qmp: qmp, cancellable: cancellable) }
    }

    /// The job on `uuid` reports progress; true when someone asked to abort it.
    @discardableResult
    func update(_ uuid: RemoteUUID, _ progress: Progress) -> Bool {
        state.withLock { state in
            state.running[uuid]?.progress = progress
            return state.running[uuid]?.abortRequested ?? false
        }
    }

    /// The storage copy of the migration on `uuid` has copied `processed` of `total` bytes;
    /// true when someone asked to abort it.
    @discardableResult
    func updateStorage(_ uuid: RemoteUUID, processed: UInt64, total: UInt64) -> Bool {
        state.withLock { state in
            state.running[uuid]?.storage = (processed, total)
            return state.running[uuid]?.abortRequested ?? false
        }
    }

    /// The job on `uuid` ended; its statistics are kept for `--completed` and returned for the
    /// job-completed event.
    @discardableResult
    func end(_ uuid: RemoteUUID, outcome: JobType, error: String? = nil) -> Record? {
        state.withLock { state in
            guard var record = state.running.removeValue(forKey: uuid) else { return nil }
            record.outcome = outcome
            record.elapsed = Date().timeIntervalSince(record.started)
            record.error = error
            record.qmp = nil
            state.completed[uuid] = record
            if state.completed.count > Self.completedLimit, let oldest = state.completed.min(by: { $0.value.started < $1.value.started })?.key {
                state.completed[oldest] = nil
            }
            return record
        }
    }

    func running(_ uuid: RemoteUUID) -> Record? { state.withLock { $0.running[uuid] } }
    func completed(_ uuid: RemoteUUID) -> Record? { state.withLock { $0.completed[uuid] } }
    func forgetCompleted(_ uuid: RemoteUUID) { state.withLock { _ = $0.completed.removeValue(forKey: uuid) } }

    /// Asks the running job on `uuid` to stop; returns its monitor (to send the cancel on), or
    /// nil when no job runs.
    func requestAbort(_ uuid: RemoteUUID) -> Record? {
        state.withLock { state in
            state.running[uuid]?.abortRequested = true
            return state.running[uuid]
        }
    }

    /// libvirt's job statistics (`VIR_DOMAIN_JOB_*` typed parameters) of `record`.
    static func parameters(_ record: Record) -> [TypedParameter] {
        let elapsed = UInt64(max(0, (record.elapsed ?? Date().timeIntervalSince(record.started)) * 1000))
        let progress = record.progress
        var parameters: [TypedParameter] = [
            TypedParameter("operation", .int(record.operation.rawValue)),
            TypedParameter("time_elapsed", .unsignedLongLong(elapsed)),
        ]
        if record.outcome == nil { parameters.append(TypedParameter("time_remaining", .unsignedLongLong(0))) }
        let storage = record.storage ?? (0, 0)
        let storageRemaining = storage.total - min(storage.processed, storage.total)
        parameters += [
            TypedParameter("data_total", .unsignedLongLong(progress.memoryTotal &+ storage.total)),
            TypedParameter("data_processed", .unsignedLongLong(progress.memoryProcessed &+ storage.processed)),
            TypedParameter("data_remaining", .unsignedLongLong(progress.memoryRemaining &+ storageRemaining)),
            TypedParameter("memory_total", .unsignedLongLong(progress.memoryTotal)),
            TypedParameter("memory_processed", .unsignedLongLong(progress.memoryProcessed)),
            TypedParameter("memory_remaining", .unsignedLongLong(progress.memoryRemaining)),
            TypedParameter("memory_constant", .unsignedLongLong(progress.constantPages)),
            TypedParameter("memory_normal", .unsignedLongLong(progress.normalPages)),
            TypedParameter("memory_normal_bytes", .unsignedLongLong(progress.normalPages &* 4096)),
            TypedParameter("memory_bps", .unsignedLongLong(progress.memoryBytesPerSecond)),
            TypedParameter("memory_dirty_rate", .unsignedLongLong(progress.dirtyRate)),
            TypedParameter("memory_iteration", .unsignedLongLong(progress.iteration)),
        ]
        if record.storage != nil {
            parameters += [
                TypedParameter("disk_total", .unsignedLongLong(storage.total)),
                TypedParameter("disk_processed", .unsignedLongLong(storage.processed)),
                TypedParameter("disk_remaining", .unsignedLongLong(storageRemaining)),
            ]
        }
        if record.outcome != nil && progress.downtime > 0 { parameters.append(TypedParameter("downtime", .unsignedLongLong(progress.downtime))) }
        if record.outcome != nil { parameters.append(TypedParameter("success", .boolean(record.outcome == .completed))) }
        if let error = record.error { parameters.append(TypedParameter("errmsg", .string(error))) }
        return parameters
    }
}

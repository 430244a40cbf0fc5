import Foundation
import Glibc
import NIOCore
import NIOPosix

/// A write-ahead journal in front of a ``DefinitionStore``'s files: a change is durable once its
/// record is flushed to the journal, and reaches its file in the background.
///
/// Why: storing a definition in its own file durably costs a new inode, two flushes (file and
/// directory) and a rename before the define can answer; one record appended to a
/// preallocated file costs one `fdatasync` of a block or two. The definition is as safe — more
/// than libvirt's, which does not flush the directory — and its file appears a moment later.
/// At start the journal's changes are replayed into the files (idempotently: each is the whole
/// definition) before anything reads them.
///
/// Two segments (`.journal-0`, `.journal-1`) take turns (see ``JournalSegments``). The
/// materializer writes each change to its file without flushing it; when the active segment
/// fills and the other is to be reused, the files written since the last time are flushed
/// (and the directory once), so a segment is reused only once its changes are durable in
/// their files.
///
/// Thread safety: all state is guarded by `condition`. ``record(_:)`` blocks the calling thread
/// (a thread-pool thread) on the disk; ``recordFromEventLoop(_:)`` has the calling event loop
/// submit the write and resumes when the disk has it. One write to the segments is under way
/// at a time, so records land in order.
final class DefinitionJournal: @unchecked Sendable {
    /// Bytes per segment: room for about a thousand usual definitions between turns.
    static let defaultCapacity = 4 << 20
    /// How much a segment's file grows by at first (with written zeros) as records reach its
    /// end, and how big a new segment's file is.
    static let growth = 64 << 10
    /// The most a segment's file grows by at once: each step doubles the file up to this.
    ///
    /// An extending direct write costs about 150 µs whatever its length, plus ~1.3 µs per KiB
    /// (measured here: 64 KiB 250 µs, 256 KiB 540 µs, 1 MiB 1,450 µs). With a usual definition
    /// taking one 4 KiB block, 64 KiB steps added ~225 µs to every sixteenth define (~15 µs a
    /// define on average); steps of 1 MiB cost ~6 µs a define, as one pause of ~1.5 ms in 256.
    /// Doubling from 64 KiB keeps a new, little-used state directory small (a daemon whose
    /// state is on a small filesystem starts), and a busy one reaches 1 MiB steps in four.
    static let largestGrowth = 1 << 20
    /// How long the journal is to be idle before the materializer writes files, unless a
    /// writer waits for it or a segment is to be freed: a burst of defines is answered first.
    static let idleDelay: TimeInterval = 0.05
    /// The longest a record's submission from an event loop may hold the loop: the kernel
    /// finishes a write inside its submission when the disk is faster than the submission
    /// (then it waits for the disk's flush there too). This project's machines measured 20–60 µs
    /// a submission, 160 µs at most. After a longer one during which the loop's thread waited
    /// in the kernel, records are written on the thread pool for ``defaultSlowSubmissionPause``,
    /// so a loop waits for a slow disk at most once a pause. (A long one without a wait was
    /// preempted: on a saturated host every submission may be, and pausing then sent every
    /// define to the thread pool, one flush each, just when they were most.)
    static let defaultLongestSubmission: Duration = .microseconds(500)
    /// How long records go to the thread pool after a submission held its loop too long; each
    /// slow one in a row doubles it, up to ``longestSlowSubmissionPause``, and a quick one
    /// resets it. (A submission also holds its loop long when the loop's thread is preempted
    /// during it: a busy host, a virtual machine's CPU descheduled. That alone no longer turns
    /// the loop's writes off for the daemon's life.)
    static let defaultSlowSubmissionPause: Duration = .seconds(10)
    static let longestSlowSubmissionPause: Duration = .seconds(600)
    /// How long a change waits for the materializer to free a segment before it fails.
    static let materializerPatience: TimeInterval = 30

    let directory: String
    private let path: @Sendable (String) -> String
    private let files: [JournalSegmentFile]
    private let capacity: Int
    private let condition = NSCondition()
    private var segments: JournalSegments
    private var queue: [(sequence: UInt64, change: JournalChange)] = []
    /// Threads waiting for the materializer (it then does not wait for the journal to be idle).
    private var waiters = 0
    /// When the last record was appended.
    private var lastRecord = Date()
    private var failure: String?
    /// When the materializer tries again after a failure.
    private var retryAt: Date?
    private var closed = false
    /// Whether ``finish(timeout:)`` emptied the segments: nothing more is recorded.
    private var finished = false
    /// Whether a record is being written without the lock, from an event loop (see
    /// ``recordFromEventLoop(_:)``): every other write to the segments waits for it, so records
    /// reach them in order (a replay stops at the first one missing).
    private var appendInFlight = false
    /// The longest a write's submission may hold an event loop before the journal stops
    /// writing from event loops for a while (see ``recordFromEventLoop(_:)``).
    private let longestSubmission: Duration
    /// Whether a submission counts as slow only when its thread waited inside it (tests turn
    /// this off, as no test can make the kernel wait on demand).
    private let requiresWaitForSlowSubmission: Bool
    /// Threads waiting for the write under way from an event loop.
    private var appendWaiters = 0
    /// Whether records may be written from event loops (false once a filesystem refused it).
    private var appendsFromEventLoops = true
    /// Until when records go to the thread pool after a slow submission (see
    /// ``defaultSlowSubmissionPause``), and the pause the next slow one sets.
    private var loopWritesPausedUntil: ContinuousClock.Instant?
    private let firstSlowSubmissionPause: Duration
    private var slowSubmissionPause: Duration
    /// Whether the materializer is writing or flushing files (without `condition`).
    private var materializerBusy = false
    /// Definitions written to their files since the last flush of them.
    private var unflushed: Set<String> = []

    /// Opens the journal in `directory` (creating its segments), after replaying what an earlier
    /// run left in it into the files `path` names, and starts its materializer thread (unless
    /// `materializes` is false: tests, as a daemon killed before it wrote any file).
    init(
        directory: String, capacity: Int = defaultCapacity, path: @escaping @Sendable (String) -> String, materializes: Bool = true,
        longestSubmission: Duration = defaultLongestSubmission, slowSubmissionPause: Duration = defaultSlowSubmissionPause,
        requiresWaitForSlowSubmission: Bool = true
    ) throws(StoreError) {
        self.directory = directory
        self.longestSubmission = longestSubmission
        self.requiresWaitForSlowSubmission = requiresWaitForSlowSubmission
        firstSlowSubmissionPause = slowSubmissionPause
        self.slowSubmissionPause = slowSubmissionPause
        self.path = path
        // Whole blocks: the segments are written block by block.
        let capacity = JournalFormat.aligned(max(capacity, JournalFormat.blockSize))
        self.capacity = capacity
        let paths = [0, 1].map { directory + "/.journal-\($0)" }
        // Replay: the segments in epoch order, so a later change to a definition wins.
        let found = paths.compactMap { file in FileManager.default.contents(atPath: file).flatMap { JournalFormat.changes(segment: Array($0)) } }
        let ordered = found.sorted { $0.epoch < $1.epoch }
        try Self.apply(ordered.flatMap(\.changes), path: path, directory: directory, durable: true)
        let epoch = (ordered.last?.epoch ?? 0) + 1
        var files: [JournalSegmentFile] = []
        for (index, path) in paths.enumerated() {
            let file = try JournalSegmentFile(path: path, initialSize: min(capacity, Self.growth), directory: directory)
            files.append(file)
            // The first segment starts the new epoch; the second's header is cleared, so
            // nothing from before this start is replayed again.
            try file.write(index == 0 ? JournalFormat.header(epoch: epoch) : [UInt8](repeating: 0, count: JournalFormat.headerSize), at: 0)
            try file.flush()
        }
        self.files = files
        segments = JournalSegments(capacity: capacity, epoch: epoch)
        if materializes { startMaterializer() }
    }

    /// Records `change` durably; its file follows in the background.
    func record(_ change: JournalChange) throws(StoreError) {
        // On an event loop it would block the loop, and wait for a write that loop is to finish.
        assert(MultiThreadedEventLoopGroup.currentEventLoop == nil, "the journal's blocking write is for the thread pool")
        let size = JournalFormat.recordSize(change)
        condition.lock()
        defer { condition.unlock() }
        guard !finished else { throw StoreError(message: "the definitions journal is closed: the daemon is stopping") }
        let deadline = Date(timeIntervalSinceNow: Self.materializerPatience)
        while true {
            // One write at a time: a record written from an event loop first.
            guard waitForAppendInFlight(until: deadline) else {
                throw StoreError(message: "the definitions journal did not finish a write in time")
            }
            let placement = segments.placement(size: size)
            switch placement {
            case .append(let segment, let offset, let epoch, let header, _):
                let (bytes, start) = Self.bytes(of: change, at: offset, epoch: epoch, header: header)
                let file = files[segment]
                let end = JournalFormat.aligned(start + bytes.count)
                if end > file.size {
                    // Grown with written zeros ahead of the records, so that most appends
                    // change neither the file's size nor its allocation.
                    let target = growthTarget(file, end: end)
                    do throws(StoreError) {
                        try file.grow(to: target)
                    } catch {
                        // A nearly full filesystem may still hold what this record needs.
                        guard target > end else { throw error }
                        try file.grow(to: end)
                    }
                }
                try file.write(bytes, at: start)
                try file.flush()
                noteRecorded(change, at: placement, size: size)
                return
            case .waitForMaterializer:
                try waitLocked(until: deadline) { $0.placement(size: size) != .waitForMaterializer }
            case .tooLarge:
                // Written directly once every earlier change is in its file (the materializer
                // would otherwise write an older one over it); the journal then says that
                // file is not to be replayed over.
                try waitLocked(until: deadline) { $0.isWritten }
                try Self.apply([change], path: path, directory: directory, durable: true)
                condition.unlock()
                defer { condition.lock() }
                try record(.keep(name: change.name))
                return
            }
        }
    }

    /// How far `file` grows when a record is to end at `end`, past what it holds: by a step
    /// that doubles with the file up to ``largestGrowth``, within the segment's capacity.
    private func growthTarget(_ file: JournalSegmentFile, end: Int) -> Int {
        let step = min(Self.largestGrowth, max(Self.growth, file.size))
        return max(end, min(capacity, file.size + step))
    }

    /// A record's bytes and where in its segment they are written: the first record of a
    /// segment shares its first block with the header, and they are written together (the
    /// header again, unchanged, when it is there already).
    private static func bytes(of change: JournalChange, at offset: Int, epoch: UInt64, header: Bool) -> (bytes: [UInt8], start: Int) {
        let withHeader = header || offset == JournalFormat.headerSize
        var bytes = withHeader ? JournalFormat.header(epoch: epoch) : []
        bytes += JournalFormat.record(change, epoch: epoch)
        return (bytes, withHeader ? 0 : offset)
    }

    /// `change` is durably at `placement` (with `condition` held): it is queued for its file.
    private func noteRecorded(_ change: JournalChange, at placement: JournalSegments.Placement, size: Int) {
        guard case .append(_, _, _, _, let sequence) = placement else { return }
        segments.recorded(placement, size: size)
        queue.append((sequence, change))
        lastRecord = Date()
        // Only the materializer waits for a record, and it needs waking only when it waits
        // without a deadline (its queue was empty) or a segment is to be freed; otherwise it
        // comes back when the journal has been idle (a wake-up per record would cost every
        // define a context switch).
        if queue.count == 1 || segments.retiringSegmentIsPending { condition.broadcast() }
    }

    // MARK: Records written from an event loop

    /// Whether both segments are written with direct I/O (which writes from an event loop need).
    var segmentsUseDirectIO: Bool {
        condition.lock()
        defer { condition.unlock() }
        return files.allSatisfy(\.isDirect)
    }

    /// What became of a record handed to ``recordFromEventLoop(_:)``.
    private enum LoopAppendOutcome: Sendable {
        /// Durably journaled.
        case recorded
        /// Not written: the caller writes it with ``record(_:)`` on the thread pool.
        case useThreadPool
        /// The write failed.
        case failed(StoreError)
    }

    /// A record waiting for its write from an event loop, and its caller.
    private struct QueuedAppend {
        let change: JournalChange
        let continuation: CheckedContinuation<LoopAppendOutcome, Never>
    }

    /// Records waiting for the write under way from an event loop to finish: the next write
    /// takes them all together (group commit).
    private var queuedAppends: [QueuedAppend] = []

    /// The most records one write from an event loop carries.
    static let largestBatch = 64

    /// Records staged for one write from an event loop: consecutive in one segment.
    private struct StagedBatch {
        let members: [QueuedAppend]
        let placements: [(change: JournalChange, placement: JournalSegments.Placement, size: Int)]
        let file: JournalSegmentFile
        let descriptor: Int32
        let buffer: UnsafeRawPointer
        let length: Int
        let offset: Int
    }

    /// Writes and flushes made from event loops, and the records they carried (for tests and
    /// figures; under the lock).
    private var loopWrites = 0
    private var loopWrittenRecords = 0

    /// How many writes from event loops carried how many records, so far.
    var loopWriteCounts: (writes: Int, records: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (loopWrites, loopWrittenRecords)
    }

    /// Records `change` durably by a write that an event loop submits, and is woken by when it
    /// is on the disk (``EventLoopDurableWriter``): no thread waits for the disk, and no thread
    /// hop is taken. Records that come while such a write is under way wait for it, and the
    /// next write carries them all, one flush for all of them (group commit): concurrent
    /// defines share the disk's latency instead of queueing for it one by one.
    ///
    /// - Returns: false, with nothing recorded, when it cannot be done so: off an event loop,
    ///   without AIO, while a thread-pool write waits, when the segment is to grow or to turn
    ///   (its other segment's changes first in their files), for a filesystem without direct
    ///   I/O, or for a while after a submission held its loop longer than
    ///   ``defaultLongestSubmission``. The caller then records it with ``record(_:)`` on the
    ///   thread pool.
    func recordFromEventLoop(_ change: JournalChange) async throws(StoreError) -> Bool {
        guard let writer = EventLoopDurableWriter.current() else { return false }
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<LoopAppendOutcome, Never>) in
            enqueue(QueuedAppend(change: change, continuation: continuation), writer: writer)
        }
        switch outcome {
        case .recorded: return true
        case .useThreadPool: return false
        case .failed(let error): throw error
        }
    }

    /// Queues `append`; when no write from an event loop is under way, `writer` (the calling
    /// loop's) writes the queue now.
    private func enqueue(_ append: QueuedAppend, writer: EventLoopDurableWriter) {
        condition.lock()
        guard loopWritesAllowed() else {
            condition.unlock()
            return append.continuation.resume(returning: .useThreadPool)
        }
        queuedAppends.append(append)
        if appendInFlight {
            // The write under way takes it next.
            condition.unlock()
            return
        }
        let (next, refused) = stageBatch()
        condition.unlock()
        Self.resume(refused, with: .useThreadPool)
        if let next { start(next, on: writer) }
    }

    /// Whether records may be written from event loops now (with `condition` held): not while
    /// a thread-pool write waits for its turn (it goes first).
    private func loopWritesAllowed() -> Bool {
        guard appendsFromEventLoops, !closed, !finished, appendWaiters == 0 else { return false }
        if let pausedUntil = loopWritesPausedUntil {
            guard ContinuousClock.now >= pausedUntil else { return false }
            loopWritesPausedUntil = nil
        }
        return true
    }

    /// Places and stages the queued records (with `condition` held, no write under way): as
    /// many as follow one another in the active segment within what its file already holds,
    /// up to ``largestBatch``. Marks the write in flight: every other write waits for it.
    /// Returns the batch, and the records that are to be written on the thread pool instead
    /// (all of them when the first cannot be written from a loop: the segment is to grow or to
    /// turn, or takes no direct I/O). Records left queued go with the next write.
    private func stageBatch() -> (LoopWrite?, refused: [QueuedAppend]) {
        guard !queuedAppends.isEmpty else { return (nil, []) }
        guard loopWritesAllowed() else { return (nil, takeQueue()) }
        var planned = segments
        var bytes: [UInt8] = []
        var start = 0
        var target: (segment: Int, file: JournalSegmentFile, descriptor: Int32)?
        var placements: [(change: JournalChange, placement: JournalSegments.Placement, size: Int)] = []
        for append in queuedAppends.prefix(Self.largestBatch) {
            let size = JournalFormat.recordSize(append.change)
            let placement = planned.placement(size: size)
            guard case .append(let segment, let offset, let epoch, let header, _) = placement else { break }
            if let target {
                // Only records that follow one another in the same segment share a write.
                guard segment == target.segment, !header else { break }
            } else {
                guard let descriptor = files[segment].directDescriptor else { break }
                target = (segment, files[segment], descriptor)
            }
            let (recordBytes, recordStart) = Self.bytes(of: append.change, at: offset, epoch: epoch, header: header)
            // Within what the file already holds (written zeros). The first that is not has the
            // thread pool grow the file first (an extending write waits for the disk inside its
            // submission), and the queue goes on after it.
            guard let target else { break }
            let end = JournalFormat.aligned(recordStart + recordBytes.count)
            guard end <= target.file.size else {
                guard placements.isEmpty else { break }
                appendInFlight = true
                return (.grow(target.file, to: growthTarget(target.file, end: end)), [])
            }
            if placements.isEmpty {
                start = recordStart
            } else {
                // Each record starts at a block boundary: the gap is zeros.
                bytes.append(contentsOf: repeatElement(0, count: recordStart - start - bytes.count))
            }
            bytes += recordBytes
            planned.recorded(placement, size: size)
            placements.append((append.change, placement, size))
        }
        guard let target, !placements.isEmpty else { return (nil, takeQueue()) }
        let members = Array(queuedAppends.prefix(placements.count))
        queuedAppends.removeFirst(placements.count)
        let staged: (buffer: UnsafeRawPointer, length: Int)
        do throws(StoreError) {
            staged = try target.file.stage(bytes)
        } catch {
            Self.resume(members, with: .failed(error))
            return stageBatch()
        }
        appendInFlight = true
        let batch = StagedBatch(
            members: members, placements: placements, file: target.file, descriptor: target.descriptor, buffer: staged.buffer, length: staged.length, offset: start)
        return (.batch(batch), [])
    }

    /// The next step of the writes from event loops.
    private enum LoopWrite {
        /// Records to write, from the loop.
        case batch(StagedBatch)
        /// A segment's file to grow (with written, flushed zeros) on the thread pool first.
        case grow(JournalSegmentFile, to: Int)
    }

    /// Takes `write`'s step: a batch is submitted by `writer`'s loop (call on it), a file grown on
    /// the thread pool, after which the queue goes on from `writer`'s loop.
    private func start(_ write: LoopWrite, on writer: EventLoopDurableWriter) {
        switch write {
        case .batch(let batch):
            submit(batch, on: writer)
        case .grow(let file, let target):
            NIOThreadPool.singleton.submit { [self] _ in grow(file, to: target, then: writer) }
        }
    }

    /// Grows `file` to `target` (on a thread-pool thread; no other write is under way), then
    /// writes the queue from `writer`'s loop. When it cannot grow that far (a nearly full
    /// filesystem), the queued records go to the thread pool, whose writes grow the file by
    /// what each needs.
    private func grow(_ file: JournalSegmentFile, to target: Int, then writer: EventLoopDurableWriter) {
        var grown = true
        do throws(StoreError) {
            try file.grow(to: target)
            try file.flush()
        } catch {
            grown = false
        }
        condition.lock()
        let (next, refused) = endLoopStep(refusingQueue: !grown)
        condition.unlock()
        Self.resume(refused, with: .useThreadPool)
        if let next { writer.eventLoop.execute { [self] in start(next, on: writer) } }
    }

    /// Ends the step under way from an event loop (with `condition` held): a thread-pool write
    /// that waits for it goes first (woken here; the queue then goes to the thread pool too, as
    /// ``stageBatch()`` refuses it), otherwise the queue is staged for the next step; all of it
    /// is refused when `refusingQueue`.
    private func endLoopStep(refusingQueue: Bool) -> (LoopWrite?, refused: [QueuedAppend]) {
        appendInFlight = false
        if appendWaiters > 0 { condition.broadcast() }
        return refusingQueue ? (nil, takeQueue()) : stageBatch()
    }

    /// Empties the queue (with `condition` held), returning what it held.
    private func takeQueue() -> [QueuedAppend] {
        defer { queuedAppends.removeAll() }
        return queuedAppends
    }

    private static func resume(_ appends: [QueuedAppend], with outcome: LoopAppendOutcome) {
        for append in appends { append.continuation.resume(returning: outcome) }
    }

    /// Has `writer`'s loop submit `batch` (on that loop).
    private func submit(_ batch: StagedBatch, on writer: EventLoopDurableWriter) {
        writer.write(descriptor: batch.descriptor, buffer: batch.buffer, length: batch.length, offset: batch.offset) { [self] result, submission in
            finish(batch, result: result, submission: submission, writer: writer)
        }
    }

    /// `batch`'s write finished with `result` (bytes written, or `-errno`), its submission
    /// having held the loop as `submission` tells: its records are journaled, or to be written on
    /// the thread pool, or failed; and the records queued meanwhile are written next, by the
    /// same loop.
    private func finish(_ batch: StagedBatch, result: Int64, submission: EventLoopDurableWriter.Submission, writer: EventLoopDurableWriter) {
        condition.lock()
        // A submission that held the loop long and waited inside the kernel (for the disk):
        // records go to the thread pool for a while, longer each time. One that was only
        // preempted (a busy host) says nothing of the disk.
        if submission.duration > longestSubmission && (submission.waited || !requiresWaitForSlowSubmission) {
            loopWritesPausedUntil = ContinuousClock.now + slowSubmissionPause
            slowSubmissionPause = min(slowSubmissionPause * 2, max(Self.longestSlowSubmissionPause, firstSlowSubmissionPause))
        } else {
            slowSubmissionPause = firstSlowSubmissionPause
        }
        let outcome: LoopAppendOutcome
        if result == Int64(batch.length) {
            batch.file.wrote(through: batch.offset + batch.length)
            for (change, placement, size) in batch.placements { noteRecorded(change, at: placement, size: size) }
            loopWrites += 1
            loopWrittenRecords += batch.placements.count
            outcome = .recorded
        } else {
            switch result {
            case -Int64(EINVAL):
                // This filesystem or kernel takes no such write: the thread pool's from now on.
                appendsFromEventLoops = false
                outcome = .useThreadPool
            case -Int64(ESHUTDOWN):
                outcome = .useThreadPool
            case ..<0:
                outcome = .failed(StoreError(message: "cannot write \(batch.file.path): \(String(cString: strerror(Int32(truncatingIfNeeded: -result))))"))
            default:
                outcome = .failed(StoreError(message: "cannot write \(batch.file.path): \(result) of \(batch.length) bytes written"))
            }
        }
        let (next, refused) = endLoopStep(refusingQueue: false)
        condition.unlock()
        Self.resume(batch.members, with: outcome)
        Self.resume(refused, with: .useThreadPool)
        if let next { start(next, on: writer) }
    }

    /// Waits (with `condition` held) until no write from an event loop is under way; false when
    /// one still is at `deadline`.
    private func waitForAppendInFlight(until deadline: Date) -> Bool {
        appendWaiters += 1
        defer { appendWaiters -= 1 }
        while appendInFlight {
            if !condition.wait(until: deadline) { return !appendInFlight }
        }
        return true
    }

    /// Waits (with `condition` held) until `ready` holds, or fails at `deadline`.
    private func waitLocked(until deadline: Date, _ ready: (JournalSegments) -> Bool) throws(StoreError) {
        waiters += 1
        defer { waiters -= 1 }
        condition.broadcast()
        while !ready(segments) {
            if !condition.wait(until: deadline) && !ready(segments) {
                throw StoreError(message: "the definitions journal is full and its changes cannot reach their files: \(failure ?? "timed out")")
            }
        }
    }

    /// Blocks until every change recorded so far is in its file (at most `timeout` seconds).
    @discardableResult
    func waitUntilWritten(timeout: TimeInterval = 10) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        waiters += 1
        defer { waiters -= 1 }
        condition.broadcast()
        while !segments.isWritten {
            guard condition.wait(until: deadline) else { return segments.isWritten }
        }
        return true
    }

    /// An orderly stop: every change in its file and flushed, the materializer stopped, and both
    /// segments emptied, so that the next start has nothing to replay. False, with the journal
    /// left for the next start to replay, when that does not come within `timeout` seconds or
    /// fails.
    func finish(timeout: TimeInterval) -> Bool {
        guard waitUntilWritten(timeout: timeout) else {
            close()
            return false
        }
        condition.lock()
        defer { condition.unlock() }
        closed = true
        condition.broadcast()
        // A record under way from an event loop lands first (its loop's writer finishes it).
        guard waitForAppendInFlight(until: Date(timeIntervalSinceNow: timeout)) else { return false }
        while materializerBusy { condition.wait() }
        guard segments.isWritten else { return false }
        do throws(StoreError) {
            try Self.flush(unflushed, path: path, directory: directory)
            unflushed.removeAll()
            for file in files {
                try file.write([UInt8](repeating: 0, count: JournalFormat.headerSize), at: 0)
                try file.flush()
            }
        } catch {
            return false
        }
        finished = true
        return true
    }

    /// Stops the materializer thread (what is not yet in its file stays journaled).
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// The materializer runs on a thread of its own at a lower priority (nice 10), so that
    /// making files — a new inode each, costly on some filesystems — takes the CPU the
    /// daemon's calls leave, yet is never starved by them.
    private func startMaterializer() {
        let thread = Thread { [self] in
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.materializerNice)
            materialize()
        }
        thread.name = "corrald-journal"
        thread.start()
    }

    /// The materializer's nice value (Linux's is per thread).
    static let materializerNice: Int32 = 10

    /// The materializer: writes queued changes to their files once the journal has been idle
    /// for ``idleDelay`` (at once when a writer waits or a segment is to be freed), and
    /// flushes the files written so far when a segment is to be freed. Files are not flushed one by one:
    /// the journal holds each change until its segment is reused. A failure (a full disk)
    /// leaves the changes queued, and the journal keeps them; it is retried a second later.
    private func materialize() {
        condition.lock()
        defer { condition.unlock() }
        while !closed {
            if queue.isEmpty && !segments.retiringSegmentNeedsFlush {
                condition.wait()
                continue
            }
            if let retryAt, Date() < retryAt {
                _ = condition.wait(until: retryAt)
                continue
            }
            if !queue.isEmpty && waiters == 0 && !segments.retiringSegmentIsPending {
                let due = lastRecord.addingTimeInterval(Self.idleDelay)
                if Date() < due {
                    _ = condition.wait(until: due)
                    continue
                }
            }
            let batch = queue
            queue.removeAll()
            if let last = batch.last?.sequence {
                materializerBusy = true
                condition.unlock()
                let result = Result { () throws(StoreError) in try Self.apply(batch.map(\.change), path: path, directory: directory, durable: false) }
                condition.lock()
                materializerBusy = false
                condition.broadcast()
                if case .failure(let error) = result {
                    queue.insert(contentsOf: batch, at: 0)
                    fail(error)
                    continue
                }
                for (_, change) in batch where change.touchesFile { unflushed.insert(change.name) }
                segments.written(through: last)
                condition.broadcast()
            }
            if segments.retiringSegmentNeedsFlush {
                let names = unflushed, target = segments.written
                unflushed.removeAll()
                materializerBusy = true
                condition.unlock()
                let result = Result { () throws(StoreError) in try Self.flush(names, path: path, directory: directory) }
                condition.lock()
                materializerBusy = false
                condition.broadcast()
                if case .failure(let error) = result {
                    unflushed.formUnion(names)
                    fail(error)
                    continue
                }
                segments.flushed(through: target)
            }
            failure = nil
            retryAt = nil
            condition.broadcast()
        }
    }

    /// A write or flush failed (with `condition` held): told to waiting writers, retried later.
    private func fail(_ error: StoreError) {
        failure = error.message
        retryAt = Date(timeIntervalSinceNow: 1)
        condition.broadcast()
    }

    /// Flushes the files of `names` (those still there), then their directory.
    private static func flush(_ names: Set<String>, path: (String) -> String, directory: String) throws(StoreError) {
        for name in names.sorted() {
            let fd = open(path(name), O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                if errno == ENOENT { continue }
                throw StoreError(message: "cannot flush \(path(name)): \(String(cString: strerror(errno)))")
            }
            defer { Glibc.close(fd) }
            try flush(fd, file: path(name))
        }
        DefinitionStore.syncDirectory(directory)
    }

    /// Each definition's last change among `changes`, in the order they were made.
    static func lastChanges(_ changes: [JournalChange]) -> [JournalChange] {
        var last: [String: Int] = [:]
        for (index, change) in changes.enumerated() { last[change.name] = index }
        return changes.enumerated().filter { last[$0.element.name] == $0.offset }.map(\.element)
    }

    /// Brings the files to the state `changes` leave them in (each definition's last change
    /// only). `durable`: each file replaced atomically and flushed, then the directory once
    /// (the replay at start, a definition too large for the journal); otherwise written in
    /// place, unflushed (the materializer: the journal still holds the change).
    static func apply(_ changes: [JournalChange], path: (String) -> String, directory: String, durable: Bool) throws(StoreError) {
        guard !changes.isEmpty else { return }
        for change in lastChanges(changes) {
            switch change {
            case .write(let name, let contents) where durable:
                try DefinitionStore.replaceFile(path: path(name), contents: Array(contents.utf8), flush: true)
            case .write(let name, let contents):
                let file = path(name)
                let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw StoreError(message: "cannot write \(file): \(String(cString: strerror(errno)))") }
                defer { Glibc.close(fd) }
                try DefinitionStore.writeAll(Array(contents.utf8), to: fd, at: 0, file: file)
            case .remove(let name):
                if unlink(path(name)) != 0 && errno != ENOENT {
                    throw StoreError(message: "cannot remove \(path(name)): \(String(cString: strerror(errno)))")
                }
            case .keep:
                break
            }
        }
        if durable { DefinitionStore.syncDirectory(directory) }
    }

    /// Makes a file's written data durable.
    private static func flush(_ fd: Int32, file: String) throws(StoreError) {
        guard fdatasync(fd) == 0 else { throw StoreError(message: "cannot write \(file): \(String(cString: strerror(errno)))") }
    }
}

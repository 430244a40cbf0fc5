/// Where the journal's next record goes: the pure bookkeeping of its two segments.
///
/// Records are appended to the active segment, each after the first at the next multiple of
/// `alignment`. When it is full the other segment becomes
/// active under a new epoch (its header and the record written together), which is allowed
/// only once every change recorded in it before has reached its file and been flushed there —
/// until then the writer waits for the materializer. A change larger than a segment cannot be
/// journaled.
struct JournalSegments: Equatable, Sendable {
    /// Bytes per segment, header included.
    let capacity: Int
    /// Where a record after the first may start: at a multiple of this (see ``JournalFormat``).
    let alignment: Int
    /// The segment records go to.
    private(set) var active = 0
    /// Each segment's epoch (0: not in use).
    private(set) var epochs: [UInt64]
    /// The next free byte of the active segment.
    private(set) var offset = JournalFormat.headerSize
    /// The last change recorded in each segment (0: none).
    private(set) var lastSequence: [UInt64] = [0, 0]
    /// The sequence number the next change gets.
    private(set) var nextSequence: UInt64 = 1
    /// Every change up to this one is in its file (perhaps not yet flushed).
    private(set) var written: UInt64 = 0
    /// Every change up to this one is in its file, flushed.
    private(set) var flushed: UInt64 = 0

    /// Segments whose active one (0) has just been given `epoch`'s header.
    init(capacity: Int, epoch: UInt64, alignment: Int = JournalFormat.blockSize) {
        self.capacity = capacity
        self.alignment = alignment
        epochs = [epoch, 0]
    }

    /// Where a record of `size` bytes is written.
    enum Placement: Equatable {
        /// At `offset` of `segment`, as change `sequence`; with `header` first (at 0) when the
        /// record starts the segment under a new epoch.
        case append(segment: Int, offset: Int, epoch: UInt64, header: Bool, sequence: UInt64)
        /// Not before the materializer has written the other segment's changes to their files.
        case waitForMaterializer
        /// Never: larger than a segment.
        case tooLarge
    }

    /// Where a record of `size` bytes would go now; nothing changes until ``recorded(_:size:)``.
    func placement(size: Int) -> Placement {
        guard size <= capacity - JournalFormat.headerSize else { return .tooLarge }
        if size <= capacity - offset {
            return .append(segment: active, offset: offset, epoch: epochs[active], header: false, sequence: nextSequence)
        }
        let other = 1 - active
        guard lastSequence[other] <= flushed else { return .waitForMaterializer }
        return .append(segment: other, offset: JournalFormat.headerSize, epoch: (epochs.max() ?? 0) + 1, header: true, sequence: nextSequence)
    }

    /// The record placed at `placement` is durably in its segment.
    mutating func recorded(_ placement: Placement, size: Int) {
        guard case .append(let segment, let offset, let epoch, _, let sequence) = placement else { return }
        active = segment
        epochs[segment] = epoch
        self.offset = (offset + size + alignment - 1) / alignment * alignment
        lastSequence[segment] = sequence
        nextSequence = sequence + 1
    }

    /// Every change up to `sequence` is in its file.
    mutating func written(through sequence: UInt64) {
        written = max(written, sequence)
    }

    /// Every change up to `sequence` is in its file, flushed.
    mutating func flushed(through sequence: UInt64) {
        flushed = max(flushed, min(sequence, written))
    }

    /// Whether every change recorded so far is in its file.
    var isWritten: Bool { written + 1 == nextSequence }

    /// Whether the segment that is not active holds changes not yet flushed in their files (the
    /// active one has filled since): the materializer is to free it now.
    var retiringSegmentIsPending: Bool { lastSequence[1 - active] > flushed }

    /// Whether the segment that is not active holds changes that are in their files but not
    /// flushed there: the files written so far are to be flushed, so that it can be reused.
    var retiringSegmentNeedsFlush: Bool {
        let retiring = lastSequence[1 - active]
        return retiring > flushed && retiring <= written
    }
}

/// One change to a ``DefinitionStore`` as its journal keeps it.
enum JournalChange: Equatable, Sendable {
    /// The definition `name` now has these contents. A string, not bytes: a queued change shares
    /// its storage with the domain's record (a burst of defines queues a copy of each otherwise).
    case write(name: String, contents: String)
    /// The definition `name` is gone.
    case remove(name: String)
    /// The file for `name` was written durably without the journal (a definition too large for
    /// it): earlier changes to `name` in the journal must not be replayed over it.
    case keep(name: String)

    var name: String {
        switch self {
        case .write(let name, _), .remove(let name), .keep(let name): name
        }
    }

    /// Whether the change touches its file (a ``keep(name:)`` does not).
    var touchesFile: Bool {
        if case .keep = self { return false }
        return true
    }

    /// The record's kind byte.
    var kind: UInt8 {
        switch self {
        case .write: 1
        case .remove: 2
        case .keep: 3
        }
    }
}

/// The journal's on-disk format: a segment is a header then records, each checksummed together
/// with the segment's epoch, so a record left from an earlier use of the segment, or torn by a
/// crash while it was written, ends the segment when it is read back.
///
/// ```
/// header (64 bytes): "CORRALJ2", epoch (UInt64 LE), CRC-32 of the 16 bytes before it, zeros
/// record:            body length (UInt32 LE), CRC-32 of epoch and body (UInt32 LE), body
/// body:              kind (1 write, 2 remove, 3 keep), name length (UInt32 LE), name, contents
/// ```
///
/// The first record follows the header; each later one starts at the next block boundary
/// (``blockSize``) after the record before it, zeros between, so that appending one writes
/// only blocks no earlier record is in (see ``JournalSegmentFile``). A segment an older daemon
/// wrote ("CORRALJ1") has its records back to back; it is still read, at the first start of a
/// newer daemon after a crash.
enum JournalFormat {
    static let magic = Array("CORRALJ2".utf8)
    /// The header of segments whose records are back to back, not block-aligned.
    static let unalignedMagic = Array("CORRALJ1".utf8)
    /// Where the first record starts.
    static let headerSize = 64
    /// The unit of the journal's writes: records after the first start at a multiple of it.
    static let blockSize = 4096

    /// `offset` rounded up to a block boundary.
    static func aligned(_ offset: Int) -> Int { (offset + blockSize - 1) / blockSize * blockSize }
    /// Bytes a record takes besides its name and contents.
    static let recordOverhead = 8 + 1 + 4

    /// A segment's header for `epoch`.
    static func header(epoch: UInt64) -> [UInt8] {
        var bytes = magic
        append(epoch, to: &bytes)
        append(CRC32.checksum(bytes), to: &bytes)
        bytes += [UInt8](repeating: 0, count: headerSize - bytes.count)
        return bytes
    }

    /// The epoch a segment's header names; nil when it is not a valid header.
    static func epoch(header bytes: ArraySlice<UInt8>) -> UInt64? { headerFields(bytes)?.epoch }

    /// The epoch a valid header names, and whether the segment's records are block-aligned.
    private static func headerFields(_ bytes: ArraySlice<UInt8>) -> (epoch: UInt64, aligned: Bool)? {
        guard bytes.count >= headerSize else { return nil }
        let aligned = bytes.prefix(8).elementsEqual(magic)
        guard aligned || bytes.prefix(8).elementsEqual(unalignedMagic) else { return nil }
        let start = bytes.startIndex
        let epoch = read(UInt64.self, bytes, at: start + 8)
        guard read(UInt32.self, bytes, at: start + 16) == CRC32.checksum(bytes[start..<start + 16]) else { return nil }
        return (epoch, aligned)
    }

    /// The bytes of `change` as a record of a segment with `epoch`.
    static func record(_ change: JournalChange, epoch: UInt64) -> [UInt8] {
        var body: [UInt8] = [change.kind]
        let name = Array(change.name.utf8)
        append(UInt32(name.count), to: &body)
        body += name
        if case .write(_, let contents) = change { body.append(contentsOf: contents.utf8) }
        var epochBytes: [UInt8] = []
        append(epoch, to: &epochBytes)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.count + 8)
        append(UInt32(body.count), to: &bytes)
        append(CRC32.checksum(body, continuing: CRC32.checksum(epochBytes)), to: &bytes)
        bytes += body
        return bytes
    }

    /// How many bytes ``record(_:epoch:)`` makes of `change` (under any epoch).
    static func recordSize(_ change: JournalChange) -> Int {
        var size = recordOverhead + change.name.utf8.count
        if case .write(_, let contents) = change { size += contents.utf8.count }
        return size
    }

    /// The records of a segment, in order: the valid records after a valid header, each where
    /// the one before it places it, up to the first that is not one (end of the written part, a torn write, an earlier epoch's
    /// record). A segment without a valid header has none.
    static func changes(segment bytes: [UInt8]) -> (epoch: UInt64, changes: [JournalChange])? {
        guard let (epoch, aligned) = headerFields(bytes[...]) else { return nil }
        var epochBytes: [UInt8] = []
        append(epoch, to: &epochBytes)
        let epochCRC = CRC32.checksum(epochBytes)
        var changes: [JournalChange] = []
        var offset = headerSize
        while bytes.count - offset >= 8 {
            let length = Int(read(UInt32.self, bytes[...], at: offset))
            let crc = read(UInt32.self, bytes[...], at: offset + 4)
            let bodyStart = offset + 8
            // Bounds first: the length is read from the disk.
            guard length >= 5, length <= bytes.count - bodyStart else { break }
            let body = bytes[bodyStart..<bodyStart + length]
            guard CRC32.checksum(body, continuing: epochCRC) == crc, let change = change(body) else { break }
            changes.append(change)
            offset = aligned ? Self.aligned(bodyStart + length) : bodyStart + length
        }
        return (epoch, changes)
    }

    private static func change(_ body: ArraySlice<UInt8>) -> JournalChange? {
        let start = body.startIndex
        let nameLength = Int(read(UInt32.self, body, at: start + 1))
        guard nameLength >= 1, nameLength <= body.count - 5 else { return nil }
        let nameBytes = body[start + 5..<start + 5 + nameLength]
        guard let name = String(validating: nameBytes, as: UTF8.self), !name.contains("/") else { return nil }
        let contents = body[(start + 5 + nameLength)...]
        switch body[start] {
        case 1: return String(validating: contents, as: UTF8.self).map { .write(name: name, contents: $0) }
        case 2 where contents.isEmpty: return .remove(name: name)
        case 3 where contents.isEmpty: return .keep(name: name)
        default: return nil
        }
    }

    private static func append<Integer: FixedWidthInteger>(_ value: Integer, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func read<Integer: FixedWidthInteger>(_: Integer.Type, _ bytes: ArraySlice<UInt8>, at offset: Int) -> Integer {
        var value: Integer = 0
        for index in 0..<MemoryLayout<Integer>.size { value |= Integer(bytes[offset + index]) << (8 * index) }
        return value
    }
}

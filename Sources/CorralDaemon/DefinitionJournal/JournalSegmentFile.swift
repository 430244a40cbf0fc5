import CFileExtents
import Foundation
import Glibc

/// One segment file of the ``DefinitionJournal``, written in whole blocks with direct I/O.
///
/// Why direct I/O: a record is appended where the file already holds written zeros, so its
/// flush has no metadata to write; through the page cache it still costs a writeback of the
/// (usually two) pages the record straddles, and a `fdatasync` after a direct write of the one
/// block the record starts in is about a fifth cheaper on this project's machines (measured:
/// `corral-bench --only domains` prints the journal's append floor). Every write starts at a
/// block boundary and covers whole blocks (``JournalFormat/blockSize``), zero-padded — the
/// journal places records so that a write never covers a block holding an earlier record of
/// the epoch, so a torn write cannot damage a change that was already answered.
///
/// A filesystem that refuses direct I/O (`EINVAL` at open or at a write) gets the same writes
/// through the page cache.
///
/// Not thread-safe: the journal uses it under its lock.
final class JournalSegmentFile {
    let path: String
    /// Bytes written (records or zeros) from the start: a multiple of the block size.
    private(set) var size: Int
    private var descriptor: Int32
    /// Whether `descriptor` was opened with `O_DIRECT`.
    private(set) var isDirect: Bool
    /// A block-aligned buffer that writes are copied into (direct I/O needs aligned memory).
    private var buffer: UnsafeMutableRawPointer?
    private var bufferCapacity = 0

    /// Opens the segment at `path`, creating it durably (`initialSize` zero bytes) when it is
    /// missing or shorter than a header; with direct I/O when `direct` and the filesystem
    /// allows it.
    init(path: String, initialSize: Int, directory: String, direct: Bool = true) throws(StoreError) {
        self.path = path
        var status = stat()
        if stat(path, &status) != 0 || status.st_size < JournalFormat.headerSize {
            try DefinitionStore.replaceFile(path: path, contents: [UInt8](repeating: 0, count: initialSize), flush: true)
            DefinitionStore.syncDirectory(directory)
            status.st_size = off_t(initialSize)
        }
        // What lies past the last whole block (a segment an older daemon grew unaligned) is
        // treated as not yet written: it is written over with zeros when the file grows.
        size = Int(status.st_size) / JournalFormat.blockSize * JournalFormat.blockSize
        (descriptor, isDirect) = try Self.open(path, direct: direct)
    }

    deinit {
        Glibc.close(descriptor)
        buffer.map { free($0) }
    }

    private static func open(_ path: String, direct: Bool) throws(StoreError) -> (Int32, Bool) {
        if direct {
            let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | corral_o_direct())
            if fd >= 0 { return (fd, true) }
            guard errno == EINVAL else { throw StoreError(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
        }
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
        return (fd, false)
    }

    /// The descriptor, for a durable write submitted elsewhere (``DefinitionJournal``'s
    /// appends from an event loop); only while the file is opened with direct I/O.
    var directDescriptor: Int32? { isDirect ? descriptor : nil }

    /// Copies `bytes`, zero-padded to whole blocks, into the aligned buffer, for a write at a
    /// block boundary; valid until the next write or staging.
    func stage(_ bytes: [UInt8]) throws(StoreError) -> (buffer: UnsafeRawPointer, length: Int) {
        let length = JournalFormat.aligned(bytes.count)
        let memory = try scratch(length)
        bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        (memory + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: length - bytes.count)
        return (UnsafeRawPointer(memory), length)
    }

    /// A staged write reached the file elsewhere, up to `end`.
    func wrote(through end: Int) {
        size = max(size, end)
    }

    /// Writes `bytes` at `offset` (a block boundary), zero-padded to whole blocks; not flushed.
    func write(_ bytes: [UInt8], at offset: Int) throws(StoreError) {
        precondition(offset % JournalFormat.blockSize == 0, "journal writes start at a block boundary")
        let (staged, length) = try stage(bytes)
        let memory = UnsafeMutableRawPointer(mutating: staged)
        var written = 0
        while written < length {
            let n = pwrite(descriptor, memory + written, length - written, off_t(offset + written))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL && isDirect {
                    // This filesystem takes no direct writes after all: through the page cache.
                    let (fd, _) = try Self.open(path, direct: false)
                    Glibc.close(descriptor)
                    (descriptor, isDirect) = (fd, false)
                    continue
                }
                throw StoreError(message: "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            written += n
        }
        size = max(size, offset + length)
    }

    /// Writes zeros from the end of what is written up to `newSize` (rounded up to a block).
    func grow(to newSize: Int) throws(StoreError) {
        guard newSize > size else { return }
        try write([UInt8](repeating: 0, count: newSize - size), at: size)
    }

    /// Makes what was written durable.
    func flush() throws(StoreError) {
        guard fdatasync(descriptor) == 0 else { throw StoreError(message: "cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    /// The aligned buffer, at least `length` bytes.
    private func scratch(_ length: Int) throws(StoreError) -> UnsafeMutableRawPointer {
        if let buffer, bufferCapacity >= length { return buffer }
        buffer.map { free($0) }
        buffer = nil
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, JournalFormat.blockSize, length) == 0, let memory else {
            bufferCapacity = 0
            throw StoreError(message: "cannot write \(path): out of memory")
        }
        buffer = memory
        bufferCapacity = length
        return memory
    }
}

import CFileExtents
import Foundation

/// What storing one definition durably costs on this machine's disk, without any daemon: the
/// floor under every define. Measured in the same run as the defines, in a scratch directory
/// on the daemon's state filesystem, with files of the definition's size.
enum DurableWriteFloor {
    /// How a daemon makes a definition durable.
    enum Pattern {
        /// libvirt's `virFileRewrite`: a new file, written, flushed, renamed over the old one.
        case fileFlush
        /// `DefinitionStore.atomicWrite`: the same, then the directory flushed too, so the new
        /// name survives a crash as well (corrald's pools and networks; its domains before the
        /// journal).
        case fileAndDirectoryFlush
        /// corrald's domain journal: a record appended to a preallocated file with direct I/O,
        /// `fdatasync`.
        case journalAppend
    }

    /// The median seconds per definition stored with `pattern`: `count` files of `size` bytes
    /// written in a fresh directory under `parent`, which is removed again.
    ///
    /// - Parameter pause: Idle time before each write (not timed), as a daemon's defines come
    ///   with parsing and a round trip between them. On this nested VM a disk left idle even
    ///   0.3 ms answers much slower (its host side stops polling): a journal append measured
    ///   back to back took 83 µs, 125 µs after 0.3 ms idle, 153 µs after 1 ms.
    static func measure(_ pattern: Pattern, parent: String, size: Int, count: Int, pause: Duration = .zero) -> Double {
        let pauseMicroseconds = useconds_t(clamping: pause.components.seconds * 1_000_000 + pause.components.attoseconds / 1_000_000_000_000)
        let directory = parent + "/durable-write-floor-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        guard mkdir(directory, 0o700) == 0 else { return 0 }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bytes = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        var times: [Double] = []
        if pattern == .journalAppend {
            // As `JournalSegmentFile` writes: direct I/O (where the filesystem takes it), each
            // record in whole blocks from a block boundary, into written zeros.
            let block = 4096, span = (size + block - 1) / block * block
            var fd = open(directory + "/journal", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return 0 }
            let zeros = [UInt8](repeating: 0, count: span * (count + 1))
            _ = zeros.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fsync(fd)
            let direct = open(directory + "/journal", O_RDWR | O_CLOEXEC | corral_o_direct())
            if direct >= 0 {
                close(fd)
                fd = direct
            }
            defer { close(fd) }
            var memory: UnsafeMutableRawPointer?
            guard posix_memalign(&memory, block, span) == 0, let memory else { return 0 }
            defer { free(memory) }
            memory.initializeMemory(as: UInt8.self, repeating: 0, count: span)
            bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            for index in 0..<count {
                if pauseMicroseconds > 0 { usleep(pauseMicroseconds) }
                let start = ContinuousClock.now
                _ = pwrite(fd, memory, span, off_t(index * span))
                fdatasync(fd)
                times.append((ContinuousClock.now - start).seconds)
            }
            return times.sorted()[times.count / 2]
        }
        for index in 0..<count {
            let path = directory + "/domain-\(index).xml", temporary = path + ".new"
            if pauseMicroseconds > 0 { usleep(pauseMicroseconds) }
            let start = ContinuousClock.now
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return 0 }
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fsync(fd)
            close(fd)
            rename(temporary, path)
            if pattern == .fileAndDirectoryFlush {
                let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                if directoryFD >= 0 {
                    fsync(directoryFD)
                    close(directoryFD)
                }
            }
            times.append((ContinuousClock.now - start).seconds)
        }
        return times.sorted()[times.count / 2]
    }
}

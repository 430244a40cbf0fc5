import CorralProtocol
import Glibc

/// A save image on disk: writing its header and XML before QEMU writes its stream after them,
/// marking it complete, reading it back, and replacing its XML in place. Blocking: callers run
/// these off the event loops.
enum SaveImageFile {
    /// An image being written: the descriptor QEMU gets (positioned where its stream starts),
    /// the header as written, and whether the file was made here (a block device is written in
    /// place and never removed).
    struct Target {
        var descriptor: Int32
        var header: SaveImageHeader
        var createdFile: Bool
    }

    /// Starts the image at `path` (made, or emptied; a block device written from its start):
    /// the header with the partial magic, the XML and libvirt's padding.
    static func create(_ path: String, data: SaveImageData, wasRunning: Bool) throws(RemoteError) -> Target {
        var status = stat()
        let isBlockDevice = stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFBLK
        let flags = isBlockDevice ? O_WRONLY | O_CLOEXEC : O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
        let fd = open(path, flags, 0o600)
        guard fd >= 0 else { throw systemError("Failed to create file '\(path)'") }
        guard let (bytes, cookieOffset) = data.bytes() else {
            close(fd)
            throw SaveImageHeader.failure("new xml too large to fit in file")
        }
        let header = SaveImageHeader(isComplete: false, dataLength: UInt32(bytes.count), wasRunning: wasRunning, cookieOffset: cookieOffset)
        guard writeAll(fd, header.bytes + bytes) else {
            let error = systemError("failed to write header to domain save file '\(path)'")
            close(fd)
            if !isBlockDevice { unlink(path) }
            throw error
        }
        return Target(descriptor: fd, header: header, createdFile: !isBlockDevice)
    }

    /// A file for QEMU to write from its start (a core dump): made or emptied; a block device is
    /// written in place.
    static func createPlain(_ path: String) throws(RemoteError) -> Target {
        var status = stat()
        let isBlockDevice = stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFBLK
        let fd = open(path, isBlockDevice ? O_WRONLY | O_CLOEXEC : O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw systemError("Failed to create file '\(path)'") }
        return Target(descriptor: fd, header: SaveImageHeader(isComplete: true, dataLength: 0, wasRunning: false), createdFile: !isBlockDevice)
    }

    /// Syncs a written file to disk and drops it from the page cache (a "bypass cache" dump).
    static func makeDurable(_ path: String) throws(RemoteError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0, fdatasync(fd) == 0 else {
            let error = systemError("unable to sync '\(path)'")
            if fd >= 0 { close(fd) }
            throw error
        }
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(fd)
    }

    /// Marks the image complete once QEMU's stream is in it. With `durable` (the caller's
    /// "bypass cache"), the stream reaches the disk before the mark does, the mark after it, and
    /// the file's pages leave the page cache; otherwise the page cache writes it back, as
    /// libvirt's save does without that flag.
    static func finish(_ path: String, header: SaveImageHeader, durable: Bool) throws(RemoteError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("failed to write header to domain save file '\(path)'") }
        defer { close(fd) }
        var complete = header
        complete.isComplete = true
        guard !durable || fdatasync(fd) == 0, pwriteAll(fd, complete.bytes, at: 0), !durable || fdatasync(fd) == 0 else {
            throw systemError("failed to write header to domain save file '\(path)'")
        }
        if durable { _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED)) }
    }

    /// The header and data of the image at `path`, and (when `keepOpen`) its descriptor
    /// positioned where QEMU's stream starts.
    static func read(_ path: String, keepOpen: Bool = false) throws(RemoteError) -> (header: SaveImageHeader, data: SaveImageData, descriptor: Int32?) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("cannot open domain image '\(path)'") }
        var keep = false
        defer { if !keep { close(fd) } }
        let headerBytes = readUpTo(fd, SaveImageHeader.size)
        let header = try SaveImageHeader(decoding: headerBytes)
        let dataBytes = readUpTo(fd, Int(header.dataLength))
        let data = try SaveImageData(decoding: dataBytes, header: header)
        keep = keepOpen
        return (header, data, keepOpen ? fd : nil)
    }

    /// Replaces the XML of the image at `path` within its data's length (libvirt's padding is
    /// the room it may grow into), and with `wasRunning` whether it restores running.
    static func replaceXML(_ path: String, with xml: String, wasRunning: Bool? = nil) throws(RemoteError) {
        let (header, old, _) = try read(path)
        let replaced = SaveImageData(xml: xml, cookie: old.cookie)
        guard let (bytes, cookieOffset) = replaced.bytes(length: Int(header.dataLength)) else {
            throw SaveImageHeader.failure("new xml too large to fit in file")
        }
        var updated = header
        updated.cookieOffset = cookieOffset
        if let wasRunning { updated.wasRunning = wasRunning }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("cannot open domain image '\(path)'") }
        defer { close(fd) }
        guard pwriteAll(fd, updated.bytes + bytes, at: 0), fsync(fd) == 0 else {
            throw systemError("failed to write header to domain save file '\(path)'")
        }
    }

    /// Removes an image this daemon made and did not finish.
    static func discard(_ target: Target, path: String) {
        if target.createdFile { unlink(path) }
    }

    static func systemError(_ what: String) -> RemoteError {
        RemoteError(code: .systemError, domain: .qemu, detail: "\(what): \(String(cString: strerror(errno)))")
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    private static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at start: off_t) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, start + off_t(offset)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// Up to `count` bytes from `fd` (fewer at the end of the file).
    private static func readUpTo(_ fd: Int32, _ count: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = buffer[filled...].withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            filled += got
        }
        return Array(buffer[..<filled])
    }
}

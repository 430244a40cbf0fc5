import CorralProtocol
import CorralStorage
import Glibc
import Logging
import NIOCore
import Synchronization

/// `vol-download`: reads a volume's file from `offset`, for `length` bytes (0: to its end), and
/// with holes when the client asked for a sparse stream (libvirt's `virFDStream` semantics: past
/// the end there is simply no more data).
final class VolumeDownloadSource: StreamEndpoint {
    let direction = ServerStreamStateMachine.Direction.toClient
    let allowsHoles: Bool
    private let state: Mutex<(fd: Int32, position: Int64, end: Int64)>
    private let onEnd: @Sendable () async -> Void

    /// Opens the file; `onEnd` runs once when the stream ends, however it ends.
    init(path: String, offset: UInt64, length: UInt64, sparse: Bool, onEnd: @escaping @Sendable () async -> Void) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.system("Unable to open '\(path)'", errno: errno) }
        let size = Int64(lseek(fd, 0, SEEK_END))
        let start = Int64(min(offset, UInt64(Int64.max)))
        var end = size
        if length > 0 {
            let (sum, overflow) = start.addingReportingOverflow(Int64(min(length, UInt64(Int64.max))))
            end = overflow ? size : min(size, sum)
        }
        allowsHoles = sparse
        state = Mutex((fd, start, max(start, end)))
        self.onEnd = onEnd
    }

    func read(maximum: Int, count: Int) async throws(RemoteError) -> [StreamChunk] {
        let sparse = allowsHoles
        return try await StorageWork.run { () throws(StorageError) -> [StreamChunk] in
            try self.state.withLock { state throws(StorageError) -> [StreamChunk] in
                var chunks: [StreamChunk] = []
                while chunks.count < count {
                    let chunk = try Self.next(&state, maximum: maximum, sparse: sparse)
                    chunks.append(chunk)
                    if case .end = chunk { break }
                }
                return chunks
            }
        }
    }

    /// The chunk at the current position: a hole (sparse streams), data, or the end.
    private static func next(_ state: inout (fd: Int32, position: Int64, end: Int64), maximum: Int, sparse: Bool) throws(StorageError) -> StreamChunk {
        guard state.fd >= 0, state.position < state.end else { return .end }
        var want = min(Int64(maximum), state.end - state.position)
        if sparse {
            switch FileExtents.extent(state.fd, at: state.position, limit: state.end) {
            case .hole(let end):
                let length = UInt64(end - state.position)
                state.position = end
                return .hole(length)
            case .data(let end):
                want = min(want, end - state.position)
            case .endOfFile:
                return .end
            }
        }
        var buffer = ByteBuffer.streamDataBuffer(capacity: Int(want))
        let position = state.position
        let fd = state.fd
        var failed = false
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(want)) { raw in
            var done = 0
            while done < Int(want) {
                let n = pread(fd, raw.baseAddress! + done, Int(want) - done, off_t(position) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    break
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        if failed { throw StorageError.system("unable to read from volume", errno: errno) }
        guard buffer.readableBytes > 0 else { return .end }
        state.position += Int64(buffer.readableBytes)
        return .data(buffer)
    }

    private func close() async {
        let fd = state.withLock { state -> Int32 in
            let fd = state.fd
            state.fd = -1
            return fd
        }
        if fd >= 0 {
            Glibc.close(fd)
            await onEnd()
        }
    }

    func finish() async throws(RemoteError) { await close() }
    func abort() async { await close() }
}

/// `vol-upload`: writes the client's data into a volume's file in place from `offset`, for at
/// most `length` bytes when given (libvirt's semantics: what lies outside the written range stays
/// as it was; writing past `length` fails with "No space left on device"). Holes from a sparse
/// stream become holes in the file. A finish does not wait for the disk, as libvirtd's and `cp`
/// do not: the data is in the page cache and written back as usual. A stream cut short leaves
/// what was written and is logged as such.
final class VolumeUploadSink: StreamEndpoint {
    let direction = ServerStreamStateMachine.Direction.fromClient
    let allowsHoles: Bool
    private let path: String
    private let limit: Int64?
    private let state: Mutex<(fd: Int32, position: Int64, written: Int64)>
    private let onEnd: @Sendable () async -> Void
    private let logger: Logger

    init(path: String, offset: UInt64, length: UInt64, sparse: Bool, logger: Logger, onEnd: @escaping @Sendable () async -> Void) throws(StorageError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.system("Unable to open '\(path)'", errno: errno) }
        let start = Int64(min(offset, UInt64(Int64.max)))
        self.path = path
        allowsHoles = sparse
        if length > 0 {
            let (sum, overflow) = start.addingReportingOverflow(Int64(min(length, UInt64(Int64.max))))
            limit = overflow ? Int64.max : sum
        } else {
            limit = nil
        }
        state = Mutex((fd, start, 0))
        self.logger = logger
        self.onEnd = onEnd
    }

    /// Bytes of a request of `count` that still fit under the length limit.
    private static func fitting(_ count: Int64, at position: Int64, limit: Int64?) throws(StorageError) -> Int64 {
        guard let limit else { return count }
        guard position < limit else { throw StorageError.system("cannot write to stream", errno: ENOSPC) }
        return min(count, limit - position)
    }

    func write(_ packets: [ByteBuffer]) async throws(RemoteError) {
        let limit = self.limit
        try await StorageWork.run { () throws(StorageError) in
            for data in packets { try self.write(data, limit: limit) }
        }
    }

    private func write(_ data: ByteBuffer, limit: Int64?) throws(StorageError) {
        try self.state.withLock { state throws(StorageError) in
            guard state.fd >= 0 else { throw StorageError(.operationInvalid, "stream is closed") }
            let count = Int(try Self.fitting(Int64(data.readableBytes), at: state.position, limit: limit))
            let fd = state.fd
            let position = state.position
            let result = data.withUnsafeReadableBytes { raw -> Int in
                var done = 0
                while done < count {
                    let n = pwrite(fd, raw.baseAddress! + done, count - done, off_t(position) + off_t(done))
                    if n < 0 { if errno == EINTR { continue }; return -1 }
                    done += n
                }
                return done
            }
            guard result >= 0 else { throw StorageError.system("cannot write to volume '\(self.path)'", errno: errno) }
            state.position += Int64(result)
            state.written += Int64(result)
            if result < data.readableBytes { throw StorageError.system("cannot write to stream", errno: ENOSPC) }
        }
    }

    func writeHole(_ length: UInt64) async throws(RemoteError) {
        let limit = self.limit
        try await StorageWork.run { () throws(StorageError) in
            try self.state.withLock { state throws(StorageError) in
                guard state.fd >= 0 else { throw StorageError(.operationInvalid, "stream is closed") }
                guard length <= UInt64(Int64.max - state.position) else { throw StorageError(.invalidArgument, "stream hole too large") }
                let count = try Self.fitting(Int64(length), at: state.position, limit: limit)
                var info = stat()
                fstat(state.fd, &info)
                let size = Int64(info.st_size)
                // Zero what the hole covers of the existing file; past its end, leave a gap
                // that the finish makes part of the file.
                if state.position < size {
                    let covered = min(count, size - state.position)
                    if !FileExtents.punchHole(state.fd, offset: state.position, length: covered) {
                        throw StorageError.system("cannot punch a hole in '\(self.path)'", errno: errno)
                    }
                }
                state.position += count
                if count < Int64(length) { throw StorageError.system("cannot write to stream", errno: ENOSPC) }
            }
        }
    }

    func finish() async throws(RemoteError) {
        try await StorageWork.run { () throws(StorageError) in
            try self.state.withLock { state throws(StorageError) in
                guard state.fd >= 0 else { return }
                var info = stat()
                fstat(state.fd, &info)
                if state.position > Int64(info.st_size), ftruncate(state.fd, off_t(state.position)) != 0 {
                    throw StorageError.system("cannot extend '\(self.path)'", errno: errno)
                }
            }
        }
        await close(completed: true)
    }

    func abort() async {
        await close(completed: false)
    }

    private func close(completed: Bool) async {
        let (fd, written) = state.withLock { state -> (Int32, Int64) in
            let fd = state.fd
            state.fd = -1
            return (fd, state.written)
        }
        guard fd >= 0 else { return }
        Glibc.close(fd)
        if !completed {
            logger.warning("an upload into a volume ended before the client finished it; the volume holds what arrived",
                           metadata: ["path": "\(path)", "bytes": "\(written)"])
        }
        await onEnd()
    }
}

import CFileExtents
import CorralProtocol
import Glibc
public import NIOCore
import NIOPosix

extension CorralStream {
    /// How many data packets ``sendFile(_:length:sparse:progress:)`` keeps on their way.
    static let writesInFlight = 8

    /// Sends the first `length` bytes of the file `fd`: data in packets of ``chunkSize`` and,
    /// with `sparse`, the file's holes as holes (found with `SEEK_DATA`/`SEEK_HOLE`). Reports
    /// the bytes covered so far to `progress`; returns the total covered.
    public func sendFile(_ fd: Int32, length: UInt64, sparse: Bool, progress: (UInt64) -> Void = { _ in }) async throws(CorralClientError) -> UInt64 {
        var position: Int64 = 0
        let end = Int64(min(length, UInt64(Int64.max)))
        // A few packets on their way at once: reading the file overlaps with the socket.
        var writes: [EventLoopFuture<Void>] = []
        defer { writes.removeAll() }
        while position < end {
            var limit = min(Int64(Self.chunkSize), end - position)
            if sparse {
                let data = Int64(corral_seek_data(fd, off_t(position)))
                let dataStart = data < 0 ? end : min(data, end)  // ENXIO: a hole to the end
                if dataStart > position {
                    for write in writes { try await waitFor(write) }
                    writes.removeAll()
                    try await sendHole(UInt64(dataStart - position))
                    position = dataStart
                    progress(UInt64(position))
                    continue
                }
                let hole = Int64(corral_seek_hole(fd, off_t(position)))
                if hole > position { limit = min(limit, hole - position) }
            }
            var buffer = ByteBuffer.streamDataBuffer(capacity: Int(limit))
            let readFrom = position
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(limit)) { raw in
                max(0, pread(fd, raw.baseAddress, Int(limit), off_t(readFrom)))
            }
            guard count > 0 else { break }
            writes.append(try sendWithoutWaiting(consume buffer))
            if writes.count >= Self.writesInFlight { try await waitFor(writes.removeFirst()) }
            position += Int64(count)
            progress(UInt64(position))
        }
        for write in writes { try await waitFor(write) }
        return UInt64(position)
    }

    /// Writes what the daemon sends into the file `fd` from its start, holes as holes; the file
    /// ends where the data does (a final hole included). Returns the bytes covered. The writes
    /// run on a thread of their own, a few packets behind the socket, so receiving and writing
    /// overlap.
    public func receiveFile(into fd: Int32, progress: (UInt64) -> Void = { _ in }) async throws(CorralClientError) -> UInt64 {
        let writer = NIOThreadPool(numberOfThreads: 1)
        writer.start()
        defer { writer.shutdownGracefully { _ in } }
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        var writes: [EventLoopFuture<Bool>] = []
        func settle(_ write: EventLoopFuture<Bool>) async throws(CorralClientError) {
            let complete = (try? await write.get()) ?? false
            guard complete else {
                throw CorralClientError(code: .localFailure, message: "cannot write the file: \(String(cString: strerror(errno)))")
            }
        }
        var position: Int64 = 0
        while let item = try await receive() {
            switch item {
            case .data(let bytes):
                let at = position
                writes.append(writer.runIfActive(eventLoop: eventLoop) {
                    bytes.withUnsafeReadableBytes { raw in
                        var done = 0
                        while done < raw.count {
                            let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(at) + off_t(done))
                            if n < 0 { if errno == EINTR { continue }; return false }
                            done += n
                        }
                        return true
                    }
                })
                position += Int64(bytes.readableBytes)
                if writes.count >= Self.writesInFlight { try await settle(writes.removeFirst()) }
            case .hole(let length):
                guard length <= UInt64(Int64.max - position) else {
                    throw CorralClientError(code: .protocolViolation, message: "a stream hole past the largest file")
                }
                position += Int64(length)
            }
            progress(UInt64(position))
        }
        for write in writes { try await settle(write) }
        guard ftruncate(fd, off_t(position)) == 0 else {
            throw CorralClientError(code: .localFailure, message: "cannot extend the file: \(String(cString: strerror(errno)))")
        }
        return UInt64(position)
    }
}

import CorralProtocol
import Foundation
import Glibc
import NIOCore
import Synchronization

/// The destination's end of a tunnelled migration: the stream's data, as it comes over the RPC
/// connection, is written into the socket the waiting QEMU reads its migration from.
final class TunnelSink: StreamEndpoint {
    let direction = ServerStreamStateMachine.Direction.fromClient
    let allowsHoles = false
    private let descriptor: Mutex<Int32>

    /// Takes ownership of `descriptor` (the daemon's end of QEMU's socket).
    init(descriptor: Int32) {
        self.descriptor = Mutex(descriptor)
    }

    func write(_ packets: [ByteBuffer]) async throws(RemoteError) {
        // A blocking write: QEMU reads as fast as it loads; off the event loops.
        try await BlockingWork.run { () throws(RemoteError) in
            try self.descriptor.withLock { fd throws(RemoteError) in
                guard fd >= 0 else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "the migration tunnel is closed") }
                for packet in packets {
                    let ok = packet.withUnsafeReadableBytes { raw -> Bool in
                        var done = 0
                        while done < raw.count {
                            let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                            if n < 0 { if errno == EINTR { continue }; return false }
                            done += n
                        }
                        return true
                    }
                    guard ok else {
                        throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot write the migration stream to QEMU: \(String(cString: strerror(errno)))")
                    }
                }
            }
        }
    }

    func finish() async throws(RemoteError) { close() }

    func abort() async { close() }

    private func close() {
        descriptor.withLock { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }

    deinit { close() }
}

/// A connected pair of stream sockets (close-on-exec), for a migration stream between QEMU and
/// the daemon.
enum MigrationSocketPair {
    static func make() throws(RemoteError) -> (daemon: Int32, qemu: Int32) {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw RemoteError(code: .systemError, domain: .qemu, detail: "cannot create a socket pair: \(String(cString: strerror(errno)))")
        }
        return (ends[0], ends[1])
    }
}

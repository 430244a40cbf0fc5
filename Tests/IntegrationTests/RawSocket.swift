import Foundation
import POSIXSupport

/// A plain blocking Unix-socket client for sending malformed bytes to the daemon.
final class RawSocket {
    let fd: Int32

    init(path: String) throws {
        fd = try UnixSocket.connect(path)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// How long a read waits for bytes before it gives up (5 s unless set).
    func setReceiveTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Reads until `count` bytes arrived, the peer closed (returns what came), or 5 s passed.
    func receive(count: Int) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < count {
            let n = read(fd, &chunk, min(chunk.count, count - result.count))
            if n <= 0 { break }
            result += chunk[0..<n]
        }
        return result
    }

    /// Whether the daemon closed the connection (a read returns end of file).
    func peerClosed() -> Bool {
        var byte: UInt8 = 0
        return read(fd, &byte, 1) == 0
    }

    deinit { close(fd) }
}

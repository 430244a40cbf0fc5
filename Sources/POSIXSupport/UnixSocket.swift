import CProcessDescriptors
#if canImport(Glibc)
import Glibc
#endif

/// Blocking Unix-domain stream sockets, for the places that want a plain descriptor: the
/// daemon's check whether a socket is live, the tests' hostile clients, the benchmark's clients.
public enum UnixSocket {
    /// Connects to `path` and returns the descriptor (close-on-exec).
    public static func connect(_ path: String) throws(SystemError) -> Int32 {
        var address = try socketAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket: \(String(cString: strerror(errno)))") }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw SystemError("cannot connect to \(path): \(reason)")
        }
        return fd
    }

    /// A socket listening on `path` (close-on-exec), for a helper process that is handed it:
    /// whatever was at `path` is replaced. Connections wait in the backlog until the helper
    /// accepts them, so a peer may connect as soon as this returns.
    public static func listen(_ path: String, permissions: UInt32 = 0o600) throws(SystemError) -> Int32 {
        var address = try socketAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket: \(String(cString: strerror(errno)))") }
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(path, mode_t(permissions)) == 0, Glibc.listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            unlink(path)
            throw SystemError("cannot listen on \(path): \(reason)")
        }
        return fd
    }

    private static func socketAddress(_ path: String) throws(SystemError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemError("the socket path \(path) is longer than a Unix socket path may be")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Whether something accepts connections on `path`.
    public static func isLive(_ path: String) -> Bool {
        guard let fd = try? connect(path) else { return false }
        close(fd)
        return true
    }

    /// Writes all of `bytes` (retrying short writes); returns false when the peer is gone.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: some Collection<UInt8>) -> Bool {
        var remaining = Array(bytes)[...]
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            remaining = remaining.dropFirst(written)
        }
        return true
    }

    /// What became of a message sent with a descriptor.
    public enum DescriptorSendOutcome: Equatable, Sendable {
        /// All of it went, the descriptor with its first byte.
        case sent
        /// None of it went (the socket was full, or failed): the stream is as it was.
        case notSent
        /// Part went and the rest would not: the stream is broken mid-message.
        case partlySent
    }

    /// Writes `bytes` on the connected stream socket `socket` with the descriptor `fd` attached
    /// to the first byte (`SCM_RIGHTS`), never waiting for a full socket before the first byte
    /// (a caller on an event loop must not block); once part is out, the rest is written,
    /// waiting at most 100 ms for room.
    public static func send(_ socket: Int32, _ bytes: [UInt8], passing fd: Int32) -> DescriptorSendOutcome {
        guard !bytes.isEmpty else { return .notSent }
        var sent = 0
        while sent == 0 {
            let result = bytes.withUnsafeBytes { corral_send_with_descriptor(socket, $0.baseAddress, UInt($0.count), fd) }
            if result > 0 {
                sent = result
            } else if result < 0 && errno == EINTR {
                continue
            } else {
                return .notSent
            }
        }
        var remaining = bytes[sent...]
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                remaining = remaining.dropFirst(written)
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && errno == EAGAIN {
                var poller = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                guard poll(&poller, 1, 100) == 1 else { return .partlySent }
            } else {
                return .partlySent
            }
        }
        return .sent
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Reads newline-terminated lines from a blocking descriptor (a QMP or guest-agent socket),
/// optionally with a deadline.
public struct BlockingLineReader {
    /// The descriptor read from (not owned: the caller closes it).
    public let fd: Int32
    /// The longest line accepted; a longer one ends the reading (`nil`).
    public let maximumLength: Int
    private var buffer: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 65536)

    /// Creates a reader of `fd`.
    public init(fd: Int32, maximumLength: Int = 16 << 20) {
        self.fd = fd
        self.maximumLength = maximumLength
    }

    /// The next line, without its newline; `nil` at end of file, on an error, past `deadline`,
    /// or when the line is over ``maximumLength``.
    public mutating func line(until deadline: ContinuousClock.Instant? = nil) -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeFirst(newline + 1)
                return line
            }
            guard buffer.count <= maximumLength else { return nil }
            if let deadline {
                let remaining = deadline - .now
                guard remaining > .zero else { return nil }
                let milliseconds = min(remaining, .seconds(3600)).components
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, Int32(milliseconds.seconds * 1000 + milliseconds.attoseconds / 1_000_000_000_000_000) + 1)
                if ready == 0 || (ready < 0 && errno == EINTR) { continue }  // the deadline is checked above
                guard ready > 0 else { return nil }
            }
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
        }
    }
}

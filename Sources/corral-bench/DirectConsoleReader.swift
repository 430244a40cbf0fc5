import CorralClient
import CorralProtocol
import Foundation

/// The most any daemon can deliver from a guest's console on this machine: the same flood read
/// straight from the guest's pseudo-terminal by a tight `poll`/`read` loop in this process, no
/// daemon and no stream in between (corrald starts the guest; only its pty path is used).
enum DirectConsoleReader {
    /// The pty path of the console `alias` in a running guest's XML.
    static func ptyPath(in xml: String, alias: String) -> String? {
        guard let aliasRange = xml.range(of: "<alias name='\(alias)'/>") else { return nil }
        let before = xml[..<aliasRange.lowerBound]
        guard let sourceRange = before.range(of: "<source path='", options: .backwards) else { return nil }
        let rest = before[sourceRange.upperBound...]
        return rest.firstIndex(of: "'").map { String(rest[..<$0]) }
    }

    /// A raw, non-blocking descriptor on the pty.
    final class Terminal {
        let fd: Int32

        init(path: String) throws {
            fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { throw BenchError("cannot open \(path)") }
            var attributes = termios()
            if tcgetattr(fd, &attributes) == 0 {
                cfmakeraw(&attributes)
                _ = tcsetattr(fd, TCSANOW, &attributes)
            }
        }

        deinit { close(fd) }

        /// Bytes read within `milliseconds` (empty when none came).
        func read(waiting milliseconds: Int32, into buffer: inout [UInt8]) -> Int {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, milliseconds) > 0 else { return 0 }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            return max(count, 0)
        }

        func type(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }

        /// Reads until `marker` arrives or `seconds` pass.
        func read(until marker: String, seconds: Double) {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var text = ""
            let deadline = Date().addingTimeInterval(seconds)
            while !text.contains(marker), Date() < deadline {
                let count = read(waiting: 200, into: &buffer)
                text += String(decoding: buffer[..<count], as: UTF8.self)
                if text.count > 65_536 { text = String(text.suffix(4096)) }
            }
        }
    }

    /// Bytes per second a direct reader gets from `flood` on a guest corrald runs.
    static func measure(uri: String, kernel: String, initrd: String, flood: ConsoleBenchmark.Flood) async throws -> Double {
        try await ConsoleBenchmark.withGuest(uri: uri, kernel: kernel, initrd: initrd) { connection, handle in
            _ = try await connection.call(Remote.DomainCreateWithFlags.self, .init(dom: handle, flags: 1))  // paused
            let xml = try await connection.call(Remote.DomainGetXMLDesc.self, .init(dom: handle, flags: 0)).xml
            guard let path = ptyPath(in: xml, alias: flood.device ?? "serial0") else { throw BenchError("no pty for \(flood.device ?? "serial0")") }
            let terminal = try Terminal(path: path)
            _ = try await connection.call(Remote.DomainResume.self, .init(dom: handle))
            terminal.read(until: "CORRAL-GUEST-BOOTED", seconds: 120)
            terminal.type("\r")
            terminal.read(until: "# ", seconds: 30)
            terminal.type(flood.command)
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var bytes = 0
            let start = Date()
            while Date().timeIntervalSince(start) < Double(ConsoleBenchmark.floodSeconds) {
                bytes += terminal.read(waiting: 100, into: &buffer)
            }
            return Double(bytes) / Date().timeIntervalSince(start)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension ChildProcess {
    /// What a program run to completion printed, and how it ended.
    public struct Output: Sendable {
        /// How it ended.
        public var termination: Termination
        /// Its standard output.
        public var standardOutput: String
        /// Its standard error.
        public var standardError: String
        /// The exit status (128 + signal when killed).
        public var status: Int32 { termination.status }
    }

    /// Runs `executable` to completion: `input` (if any) on its standard input, its output and
    /// errors collected. After `timeout` seconds it is killed and the run reported as signalled.
    /// `passing`: descriptors the child gets as 3, 4, … (``spawn(_:_:environment:standardInput:standardOutput:standardError:newSession:newProcessGroup:closeOtherDescriptors:passing:)``).
    public static func run(
        _ executable: String, _ arguments: [String], input: String? = nil,
        environment: [(String, String)]? = nil, timeout: Double = 600, passing: [Int32] = []
    ) throws(SystemError) -> Output {
        let child = try spawn(
            executable, arguments, environment: environment, standardInput: input == nil ? .null : .pipe,
            standardOutput: .pipe, standardError: .pipe, passing: passing)
        if let input, let fd = child.standardInput {
            var bytes = Array(input.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if written < 0 { if errno == EINTR { continue }; break }
                bytes = bytes.dropFirst(written)
            }
        }
        child.closeStandardInput()
        let (output, errors) = collect(child.standardOutput!, child.standardError!, until: timeout, child: child)
        let termination = child.wait(timeout: 0.01) ?? { child.signal(SIGKILL); return child.wait()! }()
        return Output(termination: termination, standardOutput: String(decoding: output, as: UTF8.self), standardError: String(decoding: errors, as: UTF8.self))
    }

    /// Reads both pipes until both reach end of file or `timeout` passes (then kills the child,
    /// whose descendants may still hold the pipes: what came so far is returned).
    private static func collect(_ out: Int32, _ err: Int32, until timeout: Double, child: ChildProcess) -> ([UInt8], [UInt8]) {
        var collected: [[UInt8]] = [[], []]
        var open = [true, true]
        let fds = [out, err]
        var chunk = [UInt8](repeating: 0, count: 65536)
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + timeout
        while open.contains(true) {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let remaining = end - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
            if remaining <= 0 {
                child.signal(SIGKILL)
                break
            }
            var polls = (0..<2).filter { open[$0] }.map { pollfd(fd: fds[$0], events: Int16(POLLIN), revents: 0) }
            let ready = poll(&polls, nfds_t(polls.count), Int32(min(remaining, 1) * 1000))
            if ready < 0 && errno != EINTR { break }
            for entry in polls where entry.revents != 0 {
                let index = entry.fd == out ? 0 : 1
                let n = read(entry.fd, &chunk, chunk.count)
                if n > 0 { collected[index] += chunk[0..<n] } else if n == 0 || errno != EINTR { open[index] = false }
            }
        }
        return (collected[0], collected[1])
    }
}

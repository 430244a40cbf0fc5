#if canImport(Glibc)
public import Glibc
#endif

/// A child process started with `posix_spawn` and waited for with `waitpid` on its own pid.
///
/// Foundation's `Process` was not reliable enough here: under parallel tests its
/// `waitUntilExit()` could spin forever after the child had exited. This type polls
/// `waitpid(pid, WNOHANG)`, so waiting never depends on signal delivery, and it takes a timeout.
public final class ChildProcess: @unchecked Sendable {  // mutable state guarded by `lock`
    /// Where a standard stream of the child goes.
    public enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// The parent's own descriptor of the same number.
        case inherit
        /// A pipe whose parent end is in ``standardInput``, ``standardOutput`` or ``standardError``.
        case pipe
        /// This open descriptor of the parent (it stays open in the parent).
        case descriptor(Int32)
    }

    /// How the child ended.
    public enum Termination: Sendable, Equatable {
        /// `exit(status)`.
        case exited(Int32)
        /// Killed by a signal.
        case signalled(Int32)

        /// The exit status, or 128 + the signal number as shells report it.
        public var status: Int32 {
            switch self {
            case .exited(let status): status
            case .signalled(let signal): 128 + signal
            }
        }
    }

    /// The child's pid.
    public let pid: pid_t
    /// The parent's write end of the child's standard input, when it is a pipe and still open.
    public var standardInput: Int32? { lock.withLock { inputPipe } }
    /// The parent's read end of the child's standard output, when it is a pipe.
    public let standardOutput: Int32?
    /// The parent's read end of the child's standard error, when it is a pipe.
    public let standardError: Int32?

    private let lock = Mutex()
    private var termination: Termination?
    private var inputPipe: Int32?

    private init(pid: pid_t, standardInput: Int32?, standardOutput: Int32?, standardError: Int32?) {
        self.pid = pid
        self.inputPipe = standardInput
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    deinit {
        for fd in [inputPipe, standardOutput, standardError].compactMap({ $0 }) { Glibc.close(fd) }
    }

    /// Closes the parent's end of the standard-input pipe: the child reads end of file.
    public func closeStandardInput() {
        lock.withLock {
            if let fd = inputPipe { Glibc.close(fd) }
            inputPipe = nil
        }
    }

    /// Starts `executable` (a path) with `arguments`.
    ///
    /// - Parameters:
    ///   - environment: exactly these variables, or the parent's when `nil`.
    ///   - newSession: run the child in a session of its own (it outlives the parent's terminal
    ///     and process group).
    ///   - newProcessGroup: run the child in a process group of its own within the parent's
    ///     session: signals for the parent's group (a terminal's Ctrl-C) pass it by, and, not
    ///     being a session leader, it never takes a terminal it opens as its controlling one
    ///     (whose hang-up would send it SIGHUP).
    ///   - closeOtherDescriptors: close every descriptor above 2 in the child, but those passed.
    ///   - passing: open descriptors of the parent the child gets as 3, 4, … (in this order).
    public static func spawn(
        _ executable: String,
        _ arguments: [String],
        environment: [(String, String)]? = nil,
        standardInput stdinMode: Stream = .null,
        standardOutput stdoutMode: Stream = .inherit,
        standardError stderrMode: Stream = .inherit,
        newSession: Bool = false,
        newProcessGroup: Bool = false,
        closeOtherDescriptors: Bool = true,
        passing passed: [Int32] = []
    ) throws(SystemError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [Int32?] = [nil, nil, nil]
        var childEnds: [Int32] = []
        defer { for fd in childEnds { Glibc.close(fd) } }
        for (target, mode) in [(Int32(0), stdinMode), (1, stdoutMode), (2, stderrMode)] {
            switch mode {
            case .inherit:
                break
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .descriptor(let fd):
                posix_spawn_file_actions_adddup2(&actions, fd, target)
            case .pipe:
                var ends: [Int32] = [-1, -1]
                // pipe2 is not imported; children spawned here close every descriptor above 2
                // anyway, and FD_CLOEXEC follows at once for anyone else's exec.
                guard pipe(&ends) == 0 else {
                    for fd in parentEnds.compactMap({ $0 }) { Glibc.close(fd) }
                    throw SystemError("cannot create a pipe: \(String(cString: strerror(errno)))")
                }
                for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                let (parentEnd, childEnd) = target == 0 ? (ends[1], ends[0]) : (ends[0], ends[1])
                parentEnds[Int(target)] = parentEnd
                childEnds.append(childEnd)
                posix_spawn_file_actions_adddup2(&actions, childEnd, target)
            }
        }
        // Each passed descriptor is first copied above every target, so that putting one in place
        // never overwrites another still to be placed; dup2 onto a target clears close-on-exec.
        let staging = Int32(3 + passed.count) + (passed.max() ?? 0) + 1
        for (offset, fd) in passed.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, staging + Int32(offset)) }
        for offset in passed.indices { posix_spawn_file_actions_adddup2(&actions, staging + Int32(offset), 3 + Int32(offset)) }
        if closeOtherDescriptors { closeFrom(3 + Int32(passed.count), in: &actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        // POSIX_SPAWN_SETSID (0x80 in glibc) is not imported into Swift; its value is stable ABI.
        let setsid: Int32 = newSession ? 0x80 : 0
        let setProcessGroup: Int32 = newProcessGroup ? Int32(POSIX_SPAWN_SETPGROUP) : 0
        if newProcessGroup { posix_spawnattr_setpgroup(&attributes, 0) }
        posix_spawnattr_setflags(&attributes, Int16(setsid | setProcessGroup | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let result = withCStrings([executable] + arguments) { argv in
            if let environment {
                return withCStrings(environment.map { "\($0.0)=\($0.1)" }) { envp in posix_spawn(&pid, executable, &actions, &attributes, argv, envp) }
            }
            return posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        }
        guard result == 0 else {
            for fd in parentEnds.compactMap({ $0 }) { Glibc.close(fd) }
            throw SystemError("cannot execute \(executable): \(String(cString: strerror(result)))")
        }
        return ChildProcess(pid: pid, standardInput: parentEnds[0], standardOutput: parentEnds[1], standardError: parentEnds[2])
    }

    /// How the child ended, or `nil` while it runs. Reaps it once it has ended.
    public var exitState: Termination? {
        lock.withLock {
            if termination == nil { termination = Self.poll(pid) }
            return termination
        }
    }

    /// Whether the child still runs.
    public var isRunning: Bool { exitState == nil }

    /// Waits until the child ends, at most `timeout` seconds (forever when `nil`).
    /// Returns how it ended, or `nil` if it still runs.
    @discardableResult
    public func wait(timeout: Double? = nil) -> Termination? {
        var waited = 0.0
        var pause = 0.001
        while true {
            if let state = exitState { return state }
            if let timeout, waited >= timeout { return nil }
            usleep(UInt32(pause * 1_000_000))
            waited += pause
            pause = min(pause * 2, 0.05)
        }
    }

    /// Sends `signal` (SIGTERM by default) unless the child has already been reaped.
    public func signal(_ signal: Int32 = SIGTERM) {
        lock.withLock {
            if termination == nil { _ = Glibc.kill(pid, signal) }
        }
    }

    /// Asks the child to end (SIGTERM), waits `grace` seconds, then kills it (SIGKILL) and waits.
    @discardableResult
    public func stop(grace: Double = 10) -> Termination {
        signal(SIGTERM)
        if let state = wait(timeout: grace) { return state }
        signal(SIGKILL)
        return wait()!
    }

    private static func poll(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result == 0 { return nil }
            if errno == EINTR { continue }
            return .exited(-1)  // ECHILD: reaped elsewhere; its status is lost
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34) is not imported into Swift; look it
    /// up, and fall back to closing each descriptor open now.
    static func closeFrom(_ lowest: Int32, in actions: inout posix_spawn_file_actions_t) {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let function = unsafeBitCast(symbol, to: CloseFrom.self)
            if function(&actions, lowest) == 0 { return }
        }
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        var open: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd >= lowest { open.append(fd) }
        }
        for fd in open { posix_spawn_file_actions_addclose(&actions, fd) }
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Why a system call of this module failed: a child process that could not be started, a
/// socket that could not be reached or published.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A pthread mutex for the little state ``ChildProcess`` keeps.
final class Mutex: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}

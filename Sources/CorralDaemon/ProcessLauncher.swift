import Foundation

/// Starts QEMU as libvirt does: a clean environment, its output appended to the domain's log,
/// in a session of its own so it outlives the daemon. The daemon reaps its own children.
enum ProcessLauncher {
    struct LaunchError: Error, CustomStringConvertible {
        var description: String
    }

    /// Spawns `executable` with `arguments` and exactly `environment`; stdout and stderr go to
    /// the file descriptor `log`. Returns the pid.
    static func spawn(executable: String, arguments: [String], environment: [(String, String)], log: Int32) throws(LaunchError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        // Nothing else of the daemon's leaks into QEMU: in particular not the daemon's monitor
        // connections to other guests, which would keep those sessions open after the daemon dies.
        closeFrom(3, in: &actions)
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
        posix_spawnattr_setflags(&attributes, Int16(0x80 | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = [executable] + arguments
        let envp = environment.map { "\($0.0)=\($0.1)" }
        var pid: pid_t = 0
        let result = withCStrings(argv) { argvPointers in
            withCStrings(envp) { envPointers in
                posix_spawn(&pid, executable, &actions, &attributes, argvPointers, envPointers)
            }
        }
        guard result == 0 else { throw LaunchError(description: "cannot execute \(executable): \(String(cString: strerror(result)))") }
        return pid
    }

    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34) is not imported into Swift; look it
    /// up, and fall back to closing each descriptor open now.
    static func closeFrom(_ lowest: Int32, in actions: inout posix_spawn_file_actions_t) {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let function = unsafeBitCast(symbol, to: CloseFrom.self)
            if function(&actions, lowest) == 0 { return }
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ Int32($0) }) where fd >= lowest {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    /// Waits for a child on a thread of its own, then calls `exited` with its status.
    static func reap(_ pid: pid_t, exited: @escaping @Sendable (Int32) -> Void) {
        let thread = Thread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            exited(status)
        }
        thread.name = "reap-\(pid)"
        thread.start()
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Whether `pid` is alive and is the QEMU of the domain with `uuid` (its argv holds it).
    static func isQEMU(pid: pid_t, uuid: String) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let index = argv.firstIndex(of: "-uuid"), index + 1 < argv.count else { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), stat.contains(") Z ") { return false }
        return argv[index + 1] == uuid
    }

    /// CPU time used by `pid`, in nanoseconds (user + system, from `/proc`).
    static func cpuTime(pid: pid_t) -> UInt64 {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return 0 }
        let ticks = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return (user + system) * 1_000_000_000 / ticks
    }
}

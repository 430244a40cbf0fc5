import Foundation
import POSIXSupport

/// Starts QEMU as libvirt does: a clean environment, its output appended to the domain's log,
/// in a process group of its own so a terminal's signals for the daemon pass it by. It is no
/// session leader (libvirt's double fork achieves the same): a session leader takes a host serial
/// port it opens (`<serial type='dev'>`) as its controlling terminal, and the line's hang-up would
/// end the guest with SIGHUP. ``ProcessReaper`` reaps it.
enum ProcessLauncher {
    struct LaunchError: Error, CustomStringConvertible {
        var description: String
    }

    /// Spawns `executable` with `arguments` and exactly `environment`, in a process group of its own;
    /// stdin is /dev/null, stdout and stderr go to the file descriptor `log`, and nothing else of
    /// the daemon's leaks into QEMU (in particular not its monitor connections to other guests,
    /// which would keep those sessions open after the daemon dies). Returns the pid.
    /// `passing`: descriptors QEMU gets as 3, 4, … (its command line names them).
    static func spawn(executable: String, arguments: [String], environment: [(String, String)], log: Int32, passing: [Int32] = []) throws(LaunchError) -> pid_t {
        do throws(SystemError) {
            return try ChildProcess.spawn(
                executable, arguments, environment: environment, standardInput: .null, standardOutput: .descriptor(log),
                standardError: .descriptor(log), newProcessGroup: true, passing: passing
            ).pid
        } catch {
            throw LaunchError(description: error.description)
        }
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
        let (total, overflow) = user.addingReportingOverflow(system)
        let (nanoseconds, tooLarge) = total.multipliedReportingOverflow(by: 1_000_000_000 / ticks)
        return overflow || tooLarge ? UInt64.max : nanoseconds
    }
}

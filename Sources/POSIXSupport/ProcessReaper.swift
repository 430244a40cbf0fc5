import CProcessDescriptors
#if canImport(Glibc)
public import Glibc
#endif
import Foundation
import Synchronization

/// One thread that notices the end of every watched process (a pidfd each, all in one `poll`)
/// and reaps those that are the daemon's children. It replaces a thread per guest, and it only
/// ever waits for the pids it was given, so other code's children are left to their owners.
public final class ProcessReaper: Sendable {
    /// The process-wide reaper (its thread starts with the first watch).
    public static let shared = ProcessReaper()

    private struct Registry {
        var byDescriptor: [Int32: (process: WatchedProcess, isChild: Bool)] = [:]
    }

    private let registry = Synchronization.Mutex(Registry())
    /// An eventfd that wakes the thread when the set of descriptors changes.
    private let wakeDescriptor: Int32

    private init() {
        wakeDescriptor = corral_wake_descriptor()
        let thread = Thread { [self] in run() }
        thread.name = "corral-reaper"
        thread.start()
    }

    /// Starts watching `pid`. `isChild`: the process is this daemon's child and is reaped when it
    /// ends; otherwise (a guest left by an earlier daemon) its end is only reported.
    public func watch(_ pid: Glibc.pid_t, isChild: Bool) throws(SystemError) -> WatchedProcess {
        let descriptor = corral_pidfd_open(pid)
        guard descriptor >= 0 else { throw SystemError("pidfd_open(\(pid)): \(String(cString: strerror(errno)))") }
        // pidfds are opened close-on-exec by the kernel.
        let process = WatchedProcess(pid: pid, descriptor: descriptor)
        registry.withLock { $0.byDescriptor[descriptor] = (process, isChild) }
        wake()
        return process
    }

    /// How many processes are being watched.
    public var watchedCount: Int { registry.withLock { $0.byDescriptor.count } }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    private func run() {
        // The kernel's thread name, so the one reaper shows in `ps -L` and `/proc`.
        corral_name_current_thread("corral-reaper")
        while true {
            var descriptors = [pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)]
            descriptors += registry.withLock { $0.byDescriptor.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } }
            let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                usleep(10_000)
                continue
            }
            if descriptors[0].revents != 0 {
                var count: UInt64 = 0
                _ = read(wakeDescriptor, &count, 8)
            }
            for entry in descriptors.dropFirst() where entry.revents != 0 {
                guard let (process, isChild) = registry.withLock({ $0.byDescriptor.removeValue(forKey: entry.fd) }) else { continue }
                var termination: ChildProcess.Termination?
                if isChild {
                    var status: Int32 = 0
                    var result: pid_t
                    repeat { result = waitpid(process.pid, &status, 0) } while result < 0 && errno == EINTR
                    if result == process.pid {
                        let signal = status & 0x7f
                        termination = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
                    }
                }
                process.finish(termination)
            }
        }
    }
}

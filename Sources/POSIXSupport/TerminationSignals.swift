import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Waiting for SIGTERM or SIGINT, for programs that run until told to stop (`corrald`,
/// `corral qmp-proxy`).
public enum TerminationSignals {
    /// Returns when the process receives SIGTERM or SIGINT (their default action, ending the
    /// process at once, is turned off first).
    public static func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let claimed = OnceFlag()
            var sources: [any DispatchSourceSignal] = []
            for number in [SIGTERM, SIGINT] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    if claimed.claim() { continuation.resume() }
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Keeps the signal sources alive for the life of the process.
private enum SignalSources {
    nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    static func keep(_ new: [any DispatchSourceSignal]) { sources += new }
}

/// A flag that can be claimed once, from any thread.
private final class OnceFlag: Sendable {
    private let claimed = Atomic<Bool>(false)
    func claim() -> Bool { !claimed.exchange(true, ordering: .acquiringAndReleasing) }
}

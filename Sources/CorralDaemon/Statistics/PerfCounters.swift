import CProcessDescriptors
import CorralProtocol
import DomainXML
import Glibc
import Synchronization

/// The host counters (`<perf>` events) kept for one running guest's QEMU process, opened with
/// `perf_event_open` as libvirt opens them; the descriptors close when the last copy of the
/// guest's runtime goes (or when an event is turned off).
final class PerfCounters: Sendable {
    typealias Event = DomainDefinition.PerfEvent

    let pid: Int32
    private let descriptors = Mutex<[Event: Int32]>([:])

    init(pid: Int32) {
        self.pid = pid
    }

    deinit {
        descriptors.withLock { for descriptor in $0.values { close(descriptor) } }
    }

    /// Opens the counters of `events` on `pid`; the first that cannot be opened is libvirt's
    /// error (and the ones opened before it are closed again).
    static func open(_ events: [Event], pid: Int32) throws(RemoteError) -> PerfCounters {
        let counters = PerfCounters(pid: pid)
        for event in events { try counters.enable(event) }
        return counters
    }

    /// The events being counted, in libvirt's order.
    var enabled: [Event] {
        let open = descriptors.withLock { Set($0.keys) }
        return Event.allCases.filter(open.contains)
    }

    func isEnabled(_ event: Event) -> Bool { descriptors.withLock { $0[event] != nil } }

    /// Starts counting `event` (nothing when it already is), with libvirt's messages.
    func enable(_ event: Event) throws(RemoteError) {
        guard !isEnabled(event) else { return }
        guard let counter = event.kernelCounter else {
            throw RemoteError(code: .argumentUnsupported, domain: .none, detail: "unable to enable host cpu perf event for \(event.rawValue)")
        }
        let descriptor = corral_perf_counter_open(counter.type, counter.config, pid)
        guard descriptor >= 0 else {
            throw RemoteError(code: .systemError, domain: .none, detail: "unable to open host cpu perf event for \(event.rawValue): \(String(cString: strerror(errno)))")
        }
        let replaced = descriptors.withLock { open -> Int32? in
            defer { open[event] = descriptor }
            return open[event]
        }
        if let replaced { close(replaced) }
    }

    /// Stops counting `event`.
    func disable(_ event: Event) {
        if let descriptor = descriptors.withLock({ $0.removeValue(forKey: event) }) { close(descriptor) }
    }

    /// Each counted event's value now, in libvirt's order (an unreadable counter is left out).
    func values() -> [(Event, UInt64)] {
        descriptors.withLock { open in
            Event.allCases.compactMap { event -> (Event, UInt64)? in
                guard let descriptor = open[event] else { return nil }
                var value: UInt64 = 0
                guard read(descriptor, &value, MemoryLayout<UInt64>.size) == MemoryLayout<UInt64>.size else { return nil }
                return (event, value)
            }
        }
    }
}

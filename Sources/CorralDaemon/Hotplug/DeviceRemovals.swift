import CorralProtocol
import Synchronization

/// Detaches waiting for QEMU to say a device is gone (`DEVICE_DELETED`) or that the guest
/// refused to let it go (`DEVICE_UNPLUG_GUEST_ERROR`).
///
/// A detach marks the device before it sends `device_del` (QEMU may report the removal before it
/// answers) and then waits, as libvirt does, for at most the unplug timeout. When nobody waits
/// any more, the driver finishes the removal itself when the event comes.
final class DeviceRemovals: Sendable {
    /// How a removal ended.
    enum Outcome: Sendable, Hashable {
        case deleted
        case rejectedByGuest
        case timedOut
    }

    private struct Key: Hashable {
        var domain: RemoteUUID
        var alias: String
    }

    private enum Entry {
        case marked
        case waiting(CheckedContinuation<Outcome, Never>)
        case arrived(Outcome)
    }

    private let entries = Mutex<[Key: Entry]>([:])

    /// Marks `alias` of `domain` as being removed: its event will be kept for ``wait(for:of:timeout:)``.
    func mark(_ alias: String, of domain: RemoteUUID) {
        entries.withLock { $0[Key(domain: domain, alias: alias)] = .marked }
    }

    /// Stops waiting for `alias` (the detach failed before QEMU took it).
    func unmark(_ alias: String, of domain: RemoteUUID) {
        _ = entries.withLock { $0.removeValue(forKey: Key(domain: domain, alias: alias)) }
    }

    /// Waits until QEMU reports on the marked device, or `timeout` passes; the mark is gone after.
    func wait(for alias: String, of domain: RemoteUUID, timeout: Duration) async -> Outcome {
        let key = Key(domain: domain, alias: alias)
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.report(.timedOut, key: key)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let ready: Outcome? = entries.withLock { entries in
                if case .arrived(let outcome)? = entries[key] {
                    entries[key] = nil
                    return outcome
                }
                entries[key] = .waiting(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// QEMU reported on `alias`. Returns whether a detach was waiting for (or had marked) it, in
    /// which case that detach finishes the removal.
    func report(_ outcome: Outcome, for alias: String, of domain: RemoteUUID) -> Bool {
        report(outcome, key: Key(domain: domain, alias: alias))
    }

    @discardableResult
    private func report(_ outcome: Outcome, key: Key) -> Bool {
        let waiter: CheckedContinuation<Outcome, Never>?
        let claimed: Bool
        (waiter, claimed) = entries.withLock { entries -> (CheckedContinuation<Outcome, Never>?, Bool) in
            switch entries[key] {
            case .waiting(let continuation)?:
                entries[key] = nil
                return (continuation, true)
            case .marked?:
                // The event came before the detach started waiting.
                entries[key] = .arrived(outcome)
                return (nil, outcome != .timedOut)
            case .arrived?, nil:
                return (nil, false)
            }
        }
        waiter?.resume(returning: outcome)
        return claimed
    }
}

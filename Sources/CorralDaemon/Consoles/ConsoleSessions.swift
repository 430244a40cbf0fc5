import CorralProtocol
import Synchronization

/// Who holds each character device: one console or channel stream per device at a time, as
/// libvirt's `virChrdevs`. A forced open takes the device from the stream that has it.
final class ConsoleSessions: Sendable {
    /// A claim on a device, returned by ``claim(_:force:busyMessage:)``.
    struct Claim: Sendable {
        let device: String
        let token: UInt64
    }

    private struct Holder {
        var token: UInt64
        var connection: CharacterDeviceConnection?
    }

    private let holders = Mutex<(next: UInt64, byDevice: [String: Holder])>((1, [:]))

    /// Reserves `device` (a pseudo-terminal or socket path). A device held by another stream is
    /// refused with `busyMessage` unless `force`, which closes that stream.
    func claim(_ device: String, force: Bool, busyMessage: String) throws(RemoteError) -> Claim {
        let result = holders.withLock { state -> Result<(Claim, CharacterDeviceConnection?), RemoteError> in
            var displaced: CharacterDeviceConnection?
            if let holder = state.byDevice[device] {
                guard force else { return .failure(RemoteError(code: .operationFailed, domain: .qemu, detail: busyMessage)) }
                displaced = holder.connection
            }
            let token = state.next
            state.next &+= 1
            state.byDevice[device] = Holder(token: token, connection: nil)
            return .success((Claim(device: device, token: token), displaced))
        }
        let (claim, displaced) = try result.get()
        displaced?.close(because: RemoteError(code: .operationAborted, domain: .streams, detail: "the console was taken over by a forced console session"))
        return claim
    }

    /// Records the open connection of `claim`; `false` (and the connection closed) when a forced
    /// open took the device meanwhile.
    func attach(_ connection: CharacterDeviceConnection, to claim: Claim) -> Bool {
        let current = holders.withLock { state -> Bool in
            guard state.byDevice[claim.device]?.token == claim.token else { return false }
            state.byDevice[claim.device]?.connection = connection
            return true
        }
        if !current { connection.close(because: RemoteError(code: .operationAborted, domain: .streams, detail: "the console was taken over by a forced console session")) }
        return current
    }

    /// Gives the device back (when the claim is still the holder).
    func release(_ claim: Claim) {
        holders.withLock { state in
            if state.byDevice[claim.device]?.token == claim.token { state.byDevice[claim.device] = nil }
        }
    }
}

import Glibc
import NIOConcurrencyHelpers
import NIOCore

/// Who is at the other end of a Unix socket connection.
enum PeerCredentials {
    /// Linux's `struct ucred` (which Swift's Glibc module leaves out: it needs `_GNU_SOURCE`).
    struct Credentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// The user id of the peer process (`SO_PEERCRED`), read on the channel's event loop as it
    /// is accepted; `nil` when the socket cannot tell.
    static func userID(of channel: any Channel) -> UInt32? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let credentials: EventLoopFuture<Credentials> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        // On the channel's own loop the option is read at once and the future is already done.
        let result = NIOLockedValueBox<UInt32?>(nil)
        credentials.whenSuccess { value in result.withLockedValue { $0 = value.uid } }
        return result.withLockedValue { $0 }
    }
}

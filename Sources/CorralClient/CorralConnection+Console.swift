public import CorralProtocol

/// `virDomainOpenConsole`'s flags.
public struct ConsoleFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Take the console from a client that has it.
    public static let force = ConsoleFlags(rawValue: 1)
    /// Only open it if the daemon keeps one client per console (Corral always does).
    public static let safe = ConsoleFlags(rawValue: 2)
}

extension CorralConnection {
    /// Opens a running guest's console (`device`: a console or serial alias; `nil`: the first
    /// console): the stream carries the guest's output and takes keystrokes.
    public func openConsole(_ domain: DomainHandle, device: String? = nil, flags: ConsoleFlags = []) async throws(CorralClientError) -> CorralStream {
        try await openStream(Remote.DomainOpenConsole.self, .init(dom: domain, devName: device, flags: flags.rawValue)).1
    }

    /// Opens a running guest's channel (`name`: its alias or virtio target name; `nil`: the
    /// first channel), both ways.
    public func openChannel(_ domain: DomainHandle, name: String? = nil, force: Bool = false) async throws(CorralClientError) -> CorralStream {
        try await openStream(Remote.DomainOpenChannel.self, .init(dom: domain, name: name, flags: force ? 1 : 0)).1
    }
}

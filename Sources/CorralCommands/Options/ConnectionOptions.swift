public import ArgumentParser
import CorralClient
import Foundation

/// `-c URI` and `-r`, shared by every command that talks to a daemon (virsh's global options).
public struct ConnectionOptions: ParsableArguments {
    /// The connection URI.
    @Option(name: [.customShort("c"), .customLong("connect")], help: "Connection URI (default: $CORRAL_DEFAULT_URI, else corral:///system for root and corral:///session for others).")
    public var uri: String?

    /// Whether to connect read-only.
    @Flag(name: [.customShort("r"), .customLong("readonly")], help: "Connect read-only.")
    public var readOnly: Bool = false

    public init() {}

    /// The URI to use: `-c`, else `$CORRAL_DEFAULT_URI`, else Corral's default socket.
    public var resolvedURI: String {
        uri ?? ProcessInfo.processInfo.environment["CORRAL_DEFAULT_URI"] ?? ConnectionURI.corralDefault
    }

    /// Connects, runs `body`, and closes the connection; errors print as virsh prints them.
    func withConnection<T>(_ body: (CorralConnection) async throws -> T) async throws -> T {
        do {
            return try await CorralConnection.withConnection(to: resolvedURI, readOnly: readOnly, body)
        } catch let error as CorralClientError {
            throw CLIError(message: error.message, connectFailed: error.code == .connectionFailed || error.code == .invalidURI)
        }
    }
}

/// An error printed as `error: MESSAGE` (and, for connection failures, virsh's extra line).
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var connectFailed = false
    var description: String {
        connectFailed ? "failed to connect to the hypervisor\nerror: \(message)" : message
    }
}

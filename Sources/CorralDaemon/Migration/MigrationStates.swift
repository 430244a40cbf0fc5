import CorralProtocol
import Synchronization

/// What a migration setup hands the starting QEMU on the destination: where to listen, and the
/// capabilities and parameters both sides must agree on.
struct IncomingNetworkMigration: Sendable {
    /// `tcp:ADDRESS:PORT` for `migrate-incoming`; unused for a tunnel.
    var listenURI: String
    /// For a tunnelled migration: QEMU's end of the socket the daemon writes the stream into
    /// (handed over with `getfd`, then closed here).
    var tunnelDescriptor: Int32?
    /// `migrate-set-capabilities` before listening.
    var capabilities: [(String, Bool)]
    /// Multifd channels, when parallel.
    var parallelConnections: Int32?
    /// QEMU's own TLS for the stream (`VIR_MIGRATE_TLS`): the x509 files of the server end.
    var tls: MigrationTLSSettings?
}

/// The migrations in progress on this daemon, between the protocol's phases (each phase is its
/// own call, possibly from another connection).
final class MigrationStates: Sendable {
    /// An outgoing migration, from Begin to Confirm.
    struct Outgoing: Sendable {
        var flags: MigrationFlags
        /// Whether the guest ran when the migration began (so a cancel resumes it).
        var wasRunning: Bool
        var performed = false
        /// The client connection driving it, phase by phase; if it closes before Confirm, the
        /// migration is cancelled here (`nil` for a peer-to-peer migration, driven in one call).
        var connectionID: UInt64?
    }

    /// An incoming migration, from Prepare to Finish.
    struct Incoming: Sendable {
        var flags: MigrationFlags
        /// Whether Prepare added the domain (it goes again when the migration fails).
        var addedTransient: Bool
        /// `persistent_xml` from the client, for `PERSIST_DEST`.
        var persistentXML: String?
        /// The connection that prepared it; if it closes before Finish, the waiting QEMU goes.
        var connectionID: UInt64?
        /// Its QEMU serves the disks over NBD for a storage copy (stopped at Finish).
        var servesStorage = false
    }

    private let state = Mutex<(outgoing: [RemoteUUID: Outgoing], incoming: [RemoteUUID: Incoming])>(([:], [:]))

    func setOutgoing(_ uuid: RemoteUUID, _ value: Outgoing?) { state.withLock { $0.outgoing[uuid] = value } }
    func outgoing(_ uuid: RemoteUUID) -> Outgoing? { state.withLock { $0.outgoing[uuid] } }
    func setIncoming(_ uuid: RemoteUUID, _ value: Incoming?) { state.withLock { $0.incoming[uuid] = value } }
    func incoming(_ uuid: RemoteUUID) -> Incoming? { state.withLock { $0.incoming[uuid] } }

    /// The migrations `connectionID` was driving, which its closing leaves unfinished.
    func driven(by connectionID: UInt64) -> (outgoing: [RemoteUUID], incoming: [RemoteUUID]) {
        state.withLock { state in
            (state.outgoing.filter { $0.value.connectionID == connectionID }.map(\.key),
             state.incoming.filter { $0.value.connectionID == connectionID }.map(\.key))
        }
    }
}

/// The speed and downtime limits set on a domain with `migrate-setspeed` and
/// `migrate-setmaxdowntime`, used by its next migration (libvirt keeps them per domain).
final class MigrationLimits: Sendable {
    struct Limits: Sendable {
        /// MiB/s; 0 is unlimited.
        var bandwidth: UInt64 = 0
        /// Milliseconds, QEMU's default 300.
        var downtime: UInt64 = 300
    }

    private let limits = Mutex<[RemoteUUID: Limits]>([:])

    func get(_ uuid: RemoteUUID) -> Limits { limits.withLock { $0[uuid] ?? Limits() } }
    func update(_ uuid: RemoteUUID, _ body: (inout Limits) -> Void) { limits.withLock { body(&$0[uuid, default: Limits()]) } }
}

import CorralJSON
import CorralProtocol
import Foundation
import QMP

/// QEMU's own TLS for a migration stream (`VIR_MIGRATE_TLS`), as libvirt sets it up: a
/// `tls-creds-x509` object (`objlibvirt_migrate_tls0`) on each side, the server end on the
/// destination (with `verify-peer` from `migrate_tls_x509_verify`), the client end on the
/// source, named by the `tls-creds` migration parameter. The storage copy's NBD connection uses
/// the same object.
extension DomainDriver {
    static let migrationTLSAlias = "objlibvirt_migrate_tls0"

    /// The x509 files the endpoint needs, or a clear error naming the first one missing.
    static func checkMigrationTLSFiles(_ settings: MigrationTLSSettings, server: Bool) throws(RemoteError) {
        for file in MigrationTLSSettings.files(server: server) {
            let path = settings.directory + "/" + file
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw RemoteError(
                    code: .operationInvalid, domain: .qemu,
                    detail: "cannot migrate with TLS: \(path) is missing (migrate_tls_x509_cert_dir)")
            }
        }
    }

    /// Adds the credentials object to the guest's QEMU (a stale one from an earlier attempt is
    /// removed first, as libvirt does).
    static func addMigrationTLS(_ settings: MigrationTLSSettings, server: Bool, qmp: QMPClient) async throws(RemoteError) {
        try checkMigrationTLSFiles(settings, server: server)
        _ = try? await qmp.execute("object-del", arguments: .object([("id", .string(migrationTLSAlias))]))
        do throws(QMPError) {
            _ = try await qmp.execute("object-add", arguments: .object([
                ("qom-type", .string("tls-creds-x509")), ("id", .string(migrationTLSAlias)), ("dir", .string(settings.directory)),
                ("endpoint", .string(server ? "server" : "client")), ("verify-peer", .bool(server ? settings.verifyPeer : true)),
            ]))
        } catch {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot set up TLS for the migration: \(error)")
        }
    }

    /// The migration parameters that turn TLS on (`hostname`: what the peer's certificate must
    /// name, empty for the URI's host) or off.
    static func migrationTLSParameters(enabled: Bool, hostname: String? = nil) -> [(String, JSONValue)] {
        [("tls-creds", .string(enabled ? migrationTLSAlias : "")), ("tls-hostname", .string(enabled ? (hostname ?? "") : ""))]
    }

    /// Turns TLS off again and removes the object (after the migration, either way).
    static func removeMigrationTLS(qmp: QMPClient) async {
        _ = try? await qmp.execute("migrate-set-parameters", arguments: .object(migrationTLSParameters(enabled: false)))
        _ = try? await qmp.execute("object-del", arguments: .object([("id", .string(migrationTLSAlias))]))
    }
}

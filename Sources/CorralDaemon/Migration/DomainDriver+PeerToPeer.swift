import CorralClient
import CorralProtocol
import Foundation

/// Peer-to-peer migration (`virsh migrate --p2p`): the source daemon connects to the destination
/// daemon itself — over a Unix socket, TLS, TCP or ssh, with Corral's client — and runs the five
/// phases, as libvirtd does.
extension DomainDriver {
    nonisolated func migratePeerToPeer(
        _ handle: RemoteDomain, destination uri: String, parameters: MigrationParameters, flags: MigrationFlags
    ) async throws(RemoteError) {
        let connection: CorralConnection
        do throws(CorralClientError) {
            connection = try await CorralConnection.connect(to: uri, keepalive: KeepaliveConfiguration(interval: 5, count: 5))
        } catch {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "Failed to connect to remote libvirt URI \(uri): \(error.message)")
        }
        defer { Task { await connection.close() } }
        func remote<T>(_ body: () async throws(CorralClientError) -> T) async throws(RemoteError) -> T {
            do throws(CorralClientError) {
                return try await body()
            } catch {
                throw error.remote ?? RemoteError(code: .operationFailed, domain: .qemu, detail: "migration to \(uri): \(error.message)")
            }
        }
        for feature in [ConnectionFeature.migrationPeerToPeer, .migrationV3, .migrationParams] {
            let reply = try await remote { () async throws(CorralClientError) in
                try await connection.call(Remote.ConnectSupportsFeature.self, .init(feature: feature.rawValue))
            }
            guard reply.supported == 1 else {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "Destination libvirt does not support peer-to-peer migration protocol")
            }
        }
        // What the destination is told: the client's flags without the source-side ones.
        let remoteFlags = UInt32(truncatingIfNeeded: flags.subtracting([.peerToPeer, .changeProtection, .abortOnError, .autoConverge]).rawValue)
        let name = try registry.record(for: handle).name
        try await jobs.run(name, "qemuMigrationSrcPerformPeer2Peer") { () async throws(RemoteError) in
            let uuid = try registry.record(for: handle).uuid
            let (beginCookie, xml) = try await migrationBegin(uuid, parameters: parameters, flags: flags)
            var prepareParameters = parameters
            prepareParameters.destinationXML = xml
            let prepared = try await remote { () async throws(CorralClientError) in
                try await connection.call(
                    Remote.DomainMigratePrepare3Params.self,
                    .init(params: prepareParameters.typedParameters, cookieIn: beginCookie, flags: remoteFlags))
            }
            var performParameters = parameters
            if let given = prepared.uriOut { performParameters.uri = given }
            var cancelled = false
            var performError: RemoteError?
            var performCookie: [UInt8] = []
            if let target = performParameters.uri {
                do throws(RemoteError) {
                    performCookie = try await migrationPerform(uuid, uri: target, parameters: performParameters, flags: flags, cookie: prepared.cookieOut)
                } catch {
                    cancelled = true
                    performError = error
                }
            } else {
                cancelled = true
                performError = RemoteError(code: .internalError, domain: .qemu, detail: "domainMigratePrepare3 did not set uri")
            }
            var finishParameters = parameters
            finishParameters.destinationName = parameters.destinationName ?? name
            finishParameters.destinationXML = nil
            let finished: Remote.DomainMigrateFinish3Params.Reply?
            do throws(RemoteError) {
                finished = try await remote { () async throws(CorralClientError) in
                    try await connection.call(
                        Remote.DomainMigrateFinish3Params.self,
                        .init(params: finishParameters.typedParameters, cookieIn: performCookie, flags: remoteFlags, cancelled: cancelled ? 1 : 0))
                }
            } catch {
                finished = nil
                if performError == nil && error.code != .migrateFinishOK { performError = error }
            }
            try await migrationConfirm(uuid, flags: flags, cancelled: finished == nil)
            if let performError { throw performError }
        }
    }
}

import CorralClient
import CorralProtocol
import Foundation
import Glibc
import NIOCore
import Synchronization

extension DomainDriver {
    /// Copies what QEMU writes into the tunnel's socket to the stream until QEMU closes its end.
    /// Blocks (reads, and waits for each send): call it on a thread of its own.
    nonisolated static func pumpTunnel(from descriptor: Int32, into stream: CorralStream) -> RemoteError? {
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, chunk) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return nil }
            let bytes = ByteBuffer(bytes: buffer[0..<count])
            let semaphore = DispatchSemaphore(value: 0)
            let failure = Mutex<RemoteError?>(nil)
            Task {
                do throws(CorralClientError) {
                    try await stream.send(bytes)
                } catch {
                    failure.withLock { $0 = RemoteError(code: .operationFailed, domain: .qemu, detail: "tunnelled migration: \(error.message)") }
                }
                semaphore.signal()
            }
            semaphore.wait()
            if let error = failure.withLock({ $0 }) { return error }
        }
    }
}

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
        let sentFlags = flags.subtracting([.changeProtection, .abortOnError, .autoConverge])
        let name = try registry.record(for: handle).name
        try await jobs.run(name, "qemuMigrationSrcPerformPeer2Peer") { () async throws(RemoteError) in
            let uuid = try registry.record(for: handle).uuid
            // A paused guest stays paused on the destination (what libvirt's client adds itself
            // when it drives the migration).
            let paused = registry.guest(uuid)?.lifecycle.status.state == .paused
            let remoteFlags = UInt32(truncatingIfNeeded: (paused ? sentFlags.union(.paused) : sentFlags).rawValue)
            let (beginCookie, xml) = try await migrationBegin(uuid, parameters: parameters, flags: flags)
            var prepareParameters = parameters
            prepareParameters.destinationXML = xml
            var cancelled = false
            var performError: RemoteError?
            var performCookie: [UInt8] = []
            if flags.contains(.tunnelled) {
                // The stream goes through this connection: QEMU writes it into a socket, the
                // daemon reads it and sends it as the stream of PREPARE_TUNNEL3_PARAMS.
                let (prepared, stream) = try await beforePerform(uuid) { () async throws(RemoteError) in
                    try await remote { () async throws(CorralClientError) in
                        try await connection.openStream(
                            Remote.DomainMigratePrepareTunnel3Params.self,
                            .init(params: prepareParameters.typedParameters, cookieIn: beginCookie, flags: remoteFlags))
                    }
                }
                let (daemonEnd, qemuEnd): (Int32, Int32)
                do throws(RemoteError) {
                    (daemonEnd, qemuEnd) = try await beforePerform(uuid) { () throws(RemoteError) in try MigrationSocketPair.make() }
                } catch {
                    await stream.abort()
                    throw error
                }
                // The pump blocks in read(2): on a thread of its own, never on an event loop.
                let pump = Task { () -> RemoteError? in
                    await withCheckedContinuation { continuation in
                        Thread.detachNewThread { continuation.resume(returning: Self.pumpTunnel(from: daemonEnd, into: stream)) }
                    }
                }
                do throws(RemoteError) {
                    defer { close(qemuEnd) }
                    performCookie = try await migrationPerform(uuid, uri: nil, parameters: parameters, flags: flags, cookie: prepared.cookieOut, tunnel: qemuEnd)
                } catch {
                    cancelled = true
                    performError = error
                }
                // On success QEMU has closed its end and the pump reads to the end of the stream;
                // on failure it is stopped here.
                if cancelled { Glibc.shutdown(daemonEnd, Int32(SHUT_RDWR)) }
                if let pumpError = await pump.value, performError == nil {
                    cancelled = true
                    performError = pumpError
                }
                close(daemonEnd)
                if cancelled { await stream.abort() } else { try? await stream.finish() }
            } else {
                let prepared = try await beforePerform(uuid) { () async throws(RemoteError) in
                    try await remote { () async throws(CorralClientError) in
                        try await connection.call(
                            Remote.DomainMigratePrepare3Params.self,
                            .init(params: prepareParameters.typedParameters, cookieIn: beginCookie, flags: remoteFlags))
                    }
                }
                var performParameters = parameters
                if let given = prepared.uriOut { performParameters.uri = given }
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
            // Peer to peer, the caller's job covers the whole migration: the clean-up too.
            if let remainder = try await migrationConfirm(uuid, flags: flags, cancelled: finished == nil) { await remainder() }
            if let performError { throw performError }
        }
    }

    /// A step between Begin and Perform: if it fails, the migration Begin recorded is over.
    private func beforePerform<T>(_ uuid: RemoteUUID, _ step: () async throws(RemoteError) -> T) async throws(RemoteError) -> T {
        do throws(RemoteError) {
            return try await step()
        } catch {
            migrations.setOutgoing(uuid, nil)
            throw error
        }
    }
}

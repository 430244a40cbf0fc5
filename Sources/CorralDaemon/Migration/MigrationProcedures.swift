import CorralJSON
import CorralProtocol
import DomainXML
import Foundation
import Glibc
import NIOCore
import QMP
import XDR
import XMLTree

/// The migration calls: libvirt's v3 protocol with and without typed parameters, peer-to-peer
/// Perform, and the speed, downtime and post-copy controls.
enum MigrationProcedures {
    static func register(in table: inout ProcedureTable, driver: DomainDriver, registry: DomainRegistry) {
        @Sendable func flags(_ raw: UInt64) throws(RemoteError) -> MigrationFlags {
            let flags = MigrationFlags(rawValue: raw)
            try flags.check()
            return flags
        }
        @Sendable func begin(_ handle: RemoteDomain, _ parameters: MigrationParameters, _ raw: UInt64, context: CallContext) async throws(RemoteError) -> ([UInt8], String) {
            let flags = try flags(raw)
            return try await driver.inJob(handle, "remoteDispatchDomainMigrateBegin3Params") { uuid throws(RemoteError) in
                let (cookie, xml) = try await driver.migrationBegin(uuid, parameters: parameters, flags: flags, connectionID: context.connectionID)
                return (cookie, xml)
            }
        }
        @Sendable func prepare(_ parameters: MigrationParameters, cookie: [UInt8], _ raw: UInt64, context: CallContext) async throws(RemoteError) -> ([UInt8], String) {
            let flags = try flags(raw)
            guard let xml = parameters.destinationXML else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "no domain XML passed") }
            var name = parameters.destinationName ?? ""
            if name.isEmpty { name = try domainName(xml) }
            let local = context.transport.kind == .unix ? nil : context.channel?.localAddress?.ipAddress
            return try await driver.jobs.run(name, "remoteDispatchDomainMigratePrepare3Params") { () async throws(RemoteError) in
                let (cookie, uri, _) = try await driver.migrationPrepare(
                    parameters: parameters, cookie: cookie, flags: flags, reachedAt: local, connectionID: context.connectionID)
                return (cookie, uri)
            }
        }
        @Sendable func perform(
            _ handle: RemoteDomain, dconnuri: String?, _ parameters: MigrationParameters, cookie: [UInt8], _ raw: UInt64
        ) async throws(RemoteError) -> [UInt8] {
            let flags = try flags(raw)
            if flags.contains(.peerToPeer) {
                guard let dconnuri, !dconnuri.isEmpty else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "a peer-to-peer migration needs the destination's URI")
                }
                try await driver.migratePeerToPeer(handle, destination: dconnuri, parameters: parameters, flags: flags)
                return []
            }
            guard let uri = parameters.uri else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "no migration URI given")
            }
            return try await driver.inJob(handle, "remoteDispatchDomainMigratePerform3Params") { uuid throws(RemoteError) in
                try await driver.migrationPerform(uuid, uri: uri, parameters: parameters, flags: flags, cookie: cookie)
            }
        }
        @Sendable func finish(name: String, cookie: [UInt8], _ raw: UInt64, cancelled: Int32) async throws(RemoteError) -> (RemoteDomain, [UInt8]) {
            let flags = MigrationFlags(rawValue: raw)
            return try await driver.jobs.run(name, "remoteDispatchDomainMigrateFinish3Params") { () async throws(RemoteError) in
                guard let record = registry.record(name: name) else {
                    throw RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching name '\(name)'")
                }
                return try await driver.migrationFinish(record.uuid, cookie: cookie, flags: flags, cancelled: cancelled != 0)
            }
        }
        @Sendable func confirm(_ handle: RemoteDomain, _ raw: UInt64, cancelled: Int32) async throws(RemoteError) {
            let flags = MigrationFlags(rawValue: raw)
            // The old QEMU's clean-up ends after the answer, still in the domain's job.
            let name = try registry.record(for: handle).name
            try await driver.jobs.runLeavingRemainder(name, "remoteDispatchDomainMigrateConfirm3Params") { () async throws(RemoteError) in
                let uuid = try registry.record(for: handle).uuid
                return ((), try await driver.migrationConfirm(uuid, flags: flags, cancelled: cancelled != 0))
            }
        }

        table.registerAsync(Remote.DomainMigrateBegin3Params.self) { arguments, context throws(RemoteError) in
            let (cookie, xml) = try await begin(arguments.dom, try MigrationParameters(arguments.params), UInt64(arguments.flags), context: context)
            return .init(cookieOut: cookie, xml: xml)
        }
        table.registerAsync(Remote.DomainMigrateBegin3.self) { arguments, context throws(RemoteError) in
            let parameters = try MigrationParameters(uri: nil, destinationName: arguments.dname, destinationXML: arguments.xmlin, bandwidth: arguments.resource)
            let (cookie, xml) = try await begin(arguments.dom, parameters, arguments.flags, context: context)
            return .init(cookieOut: cookie, xml: xml)
        }
        table.registerAsync(Remote.DomainMigratePrepare3Params.self) { arguments, context throws(RemoteError) in
            let (cookie, uri) = try await prepare(try MigrationParameters(arguments.params), cookie: arguments.cookieIn, UInt64(arguments.flags), context: context)
            return .init(cookieOut: cookie, uriOut: uri)
        }
        table.registerAsync(Remote.DomainMigratePrepare3.self) { arguments, context throws(RemoteError) in
            let parameters = try MigrationParameters(uri: arguments.uriIn, destinationName: arguments.dname, destinationXML: arguments.domXML, bandwidth: arguments.resource)
            let (cookie, uri) = try await prepare(parameters, cookie: arguments.cookieIn, arguments.flags, context: context)
            return .init(cookieOut: cookie, uriOut: uri)
        }
        table.registerStream(Remote.DomainMigratePrepareTunnel3Params.self) { arguments, context throws(RemoteError) in
            let parameters = try MigrationParameters(arguments.params)
            let flags = try flags(UInt64(arguments.flags))
            guard let xml = parameters.destinationXML else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "no domain XML passed") }
            var name = parameters.destinationName ?? ""
            if name.isEmpty { name = try domainName(xml) }
            let (daemonEnd, qemuEnd) = try MigrationSocketPair.make()
            let sink = TunnelSink(descriptor: daemonEnd)
            defer { close(qemuEnd) }
            let cookie = try await driver.jobs.run(name, "remoteDispatchDomainMigratePrepareTunnel3Params") { () async throws(RemoteError) in
                try await driver.migrationPrepare(
                    parameters: parameters, cookie: arguments.cookieIn, flags: flags, reachedAt: nil, tunnel: qemuEnd, connectionID: context.connectionID
                ).cookie
            }
            return (.init(cookieOut: cookie), sink)
        }
        table.registerAsync(Remote.DomainMigratePerform3Params.self) { arguments, _ throws(RemoteError) in
            let cookie = try await perform(arguments.dom, dconnuri: arguments.dconnuri, try MigrationParameters(arguments.params), cookie: arguments.cookieIn, UInt64(arguments.flags))
            return .init(cookieOut: cookie)
        }
        table.registerAsync(Remote.DomainMigratePerform3.self) { arguments, _ throws(RemoteError) in
            let parameters = try MigrationParameters(uri: arguments.uri, destinationName: arguments.dname, destinationXML: arguments.xmlin, bandwidth: arguments.resource)
            let cookie = try await perform(arguments.dom, dconnuri: arguments.dconnuri, parameters, cookie: arguments.cookieIn, arguments.flags)
            return .init(cookieOut: cookie)
        }
        table.registerAsync(Remote.DomainMigrateFinish3Params.self) { arguments, _ throws(RemoteError) in
            let parameters = try MigrationParameters(arguments.params)
            guard let name = parameters.destinationName else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "missing destination name")
            }
            let (domain, cookie) = try await finish(name: name, cookie: arguments.cookieIn, UInt64(arguments.flags), cancelled: arguments.cancelled)
            return .init(dom: domain, cookieOut: cookie)
        }
        table.registerAsync(Remote.DomainMigrateFinish3.self) { arguments, _ throws(RemoteError) in
            let (domain, cookie) = try await finish(name: arguments.dname, cookie: arguments.cookieIn, arguments.flags, cancelled: arguments.cancelled)
            return .init(dom: domain, cookieOut: cookie)
        }
        table.registerAsync(Remote.DomainMigrateConfirm3Params.self) { arguments, _ throws(RemoteError) in
            _ = try MigrationParameters(arguments.params)
            try await confirm(arguments.dom, UInt64(arguments.flags), cancelled: arguments.cancelled)
            return .init()
        }
        table.registerAsync(Remote.DomainMigrateConfirm3.self) { arguments, _ throws(RemoteError) in
            try await confirm(arguments.dom, arguments.flags, cancelled: arguments.cancelled)
            return .init()
        }

        // Limits for the next (or the running) migration.
        table.registerAsync(Remote.DomainMigrateSetMaxSpeed.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainMigrateSetMaxSpeed")
            guard arguments.bandwidth <= MigrationParameters.maximumBandwidth else {
                throw RemoteError(code: .overflow, domain: .qemu, detail: "bandwidth must be less than \(MigrationParameters.maximumBandwidth + 1)")
            }
            let uuid = try registry.record(for: arguments.dom).uuid
            driver.migrationLimits.update(uuid) { $0.bandwidth = arguments.bandwidth }
            if let qmp = driver.longJobs.running(uuid)?.qmp {
                _ = try? await qmp.execute("migrate-set-parameters", arguments: .object([("max-bandwidth", .integer(DomainDriver.bandwidthBytes(arguments.bandwidth)))]))
            }
            return .init()
        }
        table.registerAsync(Remote.DomainMigrateGetMaxSpeed.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainMigrateGetMaxSpeed")
            let uuid = try registry.record(for: arguments.dom).uuid
            // During a migration, what QEMU uses now (the migration's own bandwidth, or a
            // setspeed since); otherwise what the next migration will use.
            if let job = driver.longJobs.running(uuid), job.operation == .migrationOut, let qmp = job.qmp,
                let reply = try? await qmp.execute("query-migrate-parameters"), let bytes = reply["max-bandwidth"]?.intValue, bytes > 0
            {
                let mebibytes = UInt64(bytes) / (1 << 20)
                return .init(bandwidth: mebibytes >= MigrationParameters.maximumBandwidth ? MigrationParameters.maximumBandwidth : mebibytes)
            }
            let bandwidth = driver.migrationLimits.get(uuid).bandwidth
            // libvirt reports "unlimited" as its largest value.
            return .init(bandwidth: bandwidth == 0 ? MigrationParameters.maximumBandwidth : bandwidth)
        }
        table.registerAsync(Remote.DomainMigrateSetMaxDowntime.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainMigrateSetMaxDowntime")
            guard arguments.downtime > 0, arguments.downtime <= 2_000_000 else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "migrate-setmaxdowntime: downtime must be from 1 to 2000000 ms")
            }
            let uuid = try registry.record(for: arguments.dom).uuid
            driver.migrationLimits.update(uuid) { $0.downtime = arguments.downtime }
            if let qmp = driver.longJobs.running(uuid)?.qmp {
                _ = try? await qmp.execute("migrate-set-parameters", arguments: .object([("downtime-limit", .integer(Int64(arguments.downtime)))]))
            }
            return .init()
        }
        table.register(Remote.DomainMigrateGetMaxDowntime.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainMigrateGetMaxDowntime")
            let uuid = try registry.record(for: arguments.dom).uuid
            return .init(downtime: driver.migrationLimits.get(uuid).downtime)
        }
        table.registerAsync(Remote.DomainMigrateStartPostCopy.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainMigrateStartPostCopy")
            let uuid = try registry.record(for: arguments.dom).uuid
            guard let job = driver.longJobs.running(uuid), job.operation == .migrationOut, let qmp = job.qmp else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "post-copy can only be started while outgoing migration is in progress")
            }
            guard driver.migrations.outgoing(uuid)?.flags.contains(.postcopy) == true else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "switching to post-copy requires migration to be started with VIR_MIGRATE_POSTCOPY flag")
            }
            do throws(QMPError) {
                _ = try await qmp.execute("migrate-start-postcopy")
            } catch {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "switching to post-copy failed: \(error)")
            }
            return .init()
        }
    }

    /// The `<name>` of a domain XML.
    static func domainName(_ xml: String) throws(RemoteError) -> String {
        guard let root = try? XMLTreeParser.parse(xml), let name = root.element(named: "name")?.text, !name.isEmpty else {
            throw RemoteError(code: .xmlError, domain: .domain, detail: "missing name information")
        }
        return name
    }
}

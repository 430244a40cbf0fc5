import CorralProtocol
import Glibc
import XDR

/// The secret procedures: definitions, values, lookups, listings and events.
enum SecretProcedures {
    static func register(in table: inout ProcedureTable, driver: SecretDriver) {
        registerListings(in: &table, driver)
        table.register(Remote.SecretLookupByUuid.self) { arguments, _ throws(RemoteError) in
            .init(secret: try driver.definition(uuid: arguments.uuid).handle)
        }
        table.register(Remote.SecretLookupByUsage.self) { arguments, _ throws(RemoteError) in
            .init(secret: try driver.definition(usageType: arguments.usageType, usageID: arguments.usageID).handle)
        }
        table.register(Remote.SecretGetXmlDesc.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, domain: .secret, function: "secretGetXMLDesc")
            return .init(xml: try driver.definition(uuid: arguments.secret.uuid).xml)
        }
        table.register(Remote.SecretGetValue.self) { arguments, context throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, domain: .secret, function: "secretGetValue")
            // libvirt gives a private secret's value only to a client of the daemon's own user.
            let sameUser = context.transport.peerUserID == geteuid()
            return .init(value: try driver.value(of: arguments.secret, clientIsDaemonUser: sameUser))
        }
        table.registerAsync(Remote.SecretDefineXml.self) { arguments, _ throws(RemoteError) in
            .init(secret: try await driver.define(xml: arguments.xml, flags: arguments.flags))
        }
        table.registerAsync(Remote.SecretSetValue.self) { arguments, _ throws(RemoteError) in
            try await driver.setValue(arguments.secret, value: arguments.value, flags: arguments.flags)
            return .init()
        }
        table.registerAsync(Remote.SecretUndefine.self) { arguments, _ throws(RemoteError) in
            try await driver.undefine(arguments.secret)
            return .init()
        }
        table.register(Remote.ConnectSecretEventRegisterAny.self) { arguments, context throws(RemoteError) in
            guard let channel = context.channel else { throw RemoteError.internalError("no channel for events") }
            return .init(callbackID: try driver.events.register(connectionID: context.connectionID, channel: channel, eventID: arguments.eventID, secret: arguments.secret?.uuid))
        }
        table.register(Remote.ConnectSecretEventDeregisterAny.self) { arguments, context throws(RemoteError) in
            try driver.events.deregister(connectionID: context.connectionID, callbackID: arguments.callbackID)
            return .init()
        }
    }

    private static func registerListings(in table: inout ProcedureTable, _ driver: SecretDriver) {
        table.register(Remote.ConnectNumOfSecrets.self) { _, _ in .init(num: Int32(driver.all().count)) }
        table.register(Remote.ConnectListSecrets.self) { arguments, _ throws(RemoteError) in
            try NetworkAndPoolListings.checkMaximum(arguments.maxuuids, "REMOTE_SECRET_LIST_MAX")
            return .init(uuids: Array(driver.all().map { "\($0.uuid)" }.prefix(Int(arguments.maxuuids))))
        }
        table.register(Remote.ConnectListAllSecrets.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: SecretDriver.listFlags, domain: .secret, function: "secretConnectListAllSecrets")
            let secrets = driver.all().filter { matches($0, arguments.flags) }.map(\.handle)
            return .init(secrets: arguments.needResults != 0 ? secrets : [], ret: UInt32(secrets.count))
        }
    }

    /// `virConnectListAllSecrets`' filter: within each pair of flags, a secret must match one given.
    static func matches(_ secret: SecretDefinition, _ flags: UInt32) -> Bool {
        func group(_ mask: UInt32, _ first: Bool) -> Bool {
            guard flags & mask != 0 else { return true }
            let low = mask & ~(mask - 1)
            return (flags & low != 0 && first) || (flags & (mask & ~low) != 0 && !first)
        }
        return group(3, secret.isEphemeral) && group(12, secret.isPrivate)
    }
}

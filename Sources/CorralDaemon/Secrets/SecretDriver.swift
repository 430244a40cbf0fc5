import CorralProtocol
import Foundation
import Logging
import Synchronization

/// The secret driver, as libvirt's: secrets (passphrases, keys, passwords) that disks and their
/// images use, each a definition and a value. Persistent secrets live in `state-dir/secrets/`:
/// `UUID.xml` and the value in `UUID.base64`, both mode 0600; ephemeral ones only in memory.
///
/// Lookups read the table under a short lock; every change runs in the one secrets job (a
/// definition is checked against all others' usages), its files written off the event loops.
final class SecretDriver: Sendable {
    /// A secret: its definition and its value, once set.
    struct Record: Sendable {
        var definition: SecretDefinition
        var value: [UInt8]?
    }

    /// `VIR_CONNECT_LIST_SECRETS_*` (EPHEMERAL, NO_EPHEMERAL, PRIVATE, NO_PRIVATE).
    static let listFlags: UInt32 = 0xF
    /// `VIR_SECRET_DEFINE_VALIDATE`.
    static let defineValidate: UInt32 = 1

    let directory: String
    let events: SecretEvents
    let logger: Logger
    private let jobs = DomainJobs()
    private let secrets = Mutex<[RemoteUUID: Record]>([:])
    private static let jobName = "secrets"

    init(stateDirectory: String, events: SecretEvents, logger: Logger) throws {
        directory = stateDirectory + "/secrets"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.events = events
        self.logger = logger
    }

    /// Reads the stored secrets (at start-up).
    func load() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() where name.hasSuffix(".xml") {
            let path = directory + "/" + name
            do throws(RemoteError) {
                guard let xml = try? String(contentsOfFile: path, encoding: .utf8) else { throw RemoteError.internalError("cannot read \(path)") }
                let definition = try SecretDefinition.parse(xml) { RemoteUUID.random() }
                guard "\(definition.uuid).xml" == name else {
                    throw RemoteError(code: .internalError, domain: .secret, detail: "<uuid> does not match secret file name '\(path)'")
                }
                let valuePath = directory + "/\(definition.uuid).base64"
                var value: [UInt8]?
                if let text = try? String(contentsOfFile: valuePath, encoding: .utf8) {
                    guard let data = Data(base64Encoded: text.trimmingWhitespace) else { throw RemoteError.internalError("\(valuePath) is not base64") }
                    value = Array(data)
                }
                secrets.withLock { $0[definition.uuid] = Record(definition: definition, value: value) }
            } catch {
                logger.error("ignoring a secret that does not read", metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
    }

    // MARK: Lookups

    /// Every secret's definition, by UUID.
    func all() -> [SecretDefinition] {
        secrets.withLock { $0.values.map(\.definition) }.sorted { "\($0.uuid)" < "\($1.uuid)" }
    }

    func definition(uuid: RemoteUUID) throws(RemoteError) -> SecretDefinition {
        guard let record = secrets.withLock({ $0[uuid] }) else {
            throw RemoteError(code: .noSecret, domain: .secret, detail: "no secret with matching uuid '\(uuid)'")
        }
        return record.definition
    }

    func definition(usageType: Int32, usageID: String) throws(RemoteError) -> SecretDefinition {
        let type = SecretDefinition.UsageType(rawValue: usageType)
        let found = secrets.withLock { secrets in
            secrets.values.first { type != nil && type != SecretDefinition.UsageType.none && $0.definition.usageType == type && $0.definition.usageID == usageID }
        }
        guard let found else { throw RemoteError(code: .noSecret, domain: .secret, detail: "no secret with matching usage '\(usageID)'") }
        return found.definition
    }

    /// The value of a secret, for a client (`virSecretGetValue`): a private secret's only to a
    /// client running as the daemon's own user.
    func value(of handle: RemoteSecret, clientIsDaemonUser: Bool) throws(RemoteError) -> [UInt8] {
        let definition = try definition(uuid: handle.uuid)
        if definition.isPrivate && !clientIsDaemonUser {
            throw RemoteError(code: .invalidSecret, domain: .secret, detail: "secret is private")
        }
        return try storedValue(definition.uuid)
    }

    /// The value of the secret a guest's disk names, by UUID or usage, which must be of
    /// `usageType` (libvirt's `virSecretGetSecretString`); private secrets included.
    func valueForGuest(uuid: String?, usage: String?, usageType: SecretDefinition.UsageType) throws(RemoteError) -> [UInt8] {
        let definition: SecretDefinition
        if let uuid {
            guard let parsed = RemoteUUID(uuid) else { throw RemoteError(code: .noSecret, domain: .secret, detail: "no secret with matching uuid '\(uuid)'") }
            definition = try self.definition(uuid: parsed)
            if definition.usageType != .none && definition.usageType != usageType {
                throw RemoteError(
                    code: .invalidArgument, domain: .secret,
                    detail: "secret with uuid \(uuid) is of type '\(definition.usageType.name)' not expected '\(usageType.name)' type")
            }
        } else {
            definition = try self.definition(usageType: usageType.rawValue, usageID: usage ?? "")
        }
        return try storedValue(definition.uuid)
    }

    private func storedValue(_ uuid: RemoteUUID) throws(RemoteError) -> [UInt8] {
        guard let value = secrets.withLock({ $0[uuid]?.value }) else {
            throw RemoteError(code: .noSecret, domain: .secret, detail: "secret '\(uuid)' does not have a value")
        }
        return value
    }

    // MARK: Changes

    /// `virSecretDefineXML`: a new secret, or new properties for one (its usage and privacy
    /// kept as libvirt requires).
    func define(xml: String, flags: UInt32) async throws(RemoteError) -> RemoteSecret {
        try DomainProcedures.checkFlags(flags, allowed: Self.defineValidate, domain: .secret, function: "secretDefineXML")
        let definition = try SecretDefinition.parse(xml) { RemoteUUID.random() }
        return try await jobs.run(Self.jobName, "secretDefineXML") { () throws(RemoteError) -> RemoteSecret in
            let existing = secrets.withLock { $0[definition.uuid] }
            if let existing {
                if existing.definition.usageID != definition.usageID {
                    throw RemoteError(
                        code: .internalError, domain: .secret,
                        detail: "a secret with UUID \(definition.uuid) is already defined for use with \(existing.definition.usageID ?? "(null)")")
                }
                if existing.definition.isPrivate && !definition.isPrivate {
                    throw RemoteError(code: .internalError, domain: .secret, detail: "cannot change private flag on existing secret")
                }
            } else if definition.usageType != .none,
                let other = secrets.withLock({ $0.values.first { $0.definition.usageType == definition.usageType && $0.definition.usageID == definition.usageID } }) {
                throw RemoteError(
                    code: .internalError, domain: .secret,
                    detail: "a secret with UUID \(other.definition.uuid) already defined for use with \(definition.usageID ?? "")")
            }
            let value = existing?.value
            try await write(definition, value: value, wasPersistent: existing.map { !$0.definition.isEphemeral } ?? false)
            secrets.withLock { $0[definition.uuid] = Record(definition: definition, value: value) }
            logger.info("defined secret", metadata: ["secret": "\(definition.uuid)"])
            events.emit(.defined, secret: definition.handle)
            return definition.handle
        }
    }

    /// `virSecretSetValue`.
    func setValue(_ handle: RemoteSecret, value: [UInt8], flags: UInt32) async throws(RemoteError) {
        try DomainProcedures.checkFlags(flags, allowed: 0, domain: .secret, function: "secretSetValue")
        try await jobs.run(Self.jobName, "secretSetValue") { () throws(RemoteError) in
            let definition = try definition(uuid: handle.uuid)
            if !definition.isEphemeral {
                let path = directory + "/\(definition.uuid).base64"
                let text = Data(value).base64EncodedString()
                try await BlockingWork.run { () throws(RemoteError) in
                    do throws(StoreError) {
                        try DefinitionStore.atomicWrite(path: path, contents: Array(text.utf8))
                    } catch {
                        throw RemoteError(code: .operationFailed, domain: .secret, detail: error.message)
                    }
                }
            }
            secrets.withLock { $0[definition.uuid]?.value = value }
            events.emitValueChanged(secret: definition.handle)
        }
    }

    /// `virSecretUndefine`: the secret and its files go.
    func undefine(_ handle: RemoteSecret) async throws(RemoteError) {
        try await jobs.run(Self.jobName, "secretUndefine") { () throws(RemoteError) in
            let definition = try definition(uuid: handle.uuid)
            let directory = self.directory
            try await BlockingWork.run { () throws(RemoteError) in
                for suffix in ["xml", "base64"] {
                    let path = directory + "/\(definition.uuid).\(suffix)"
                    if unlink(path) != 0 && errno != ENOENT {
                        throw RemoteError(code: .systemError, domain: .secret, detail: "cannot delete \(path): \(String(cString: strerror(errno)))")
                    }
                }
            }
            secrets.withLock { _ = $0.removeValue(forKey: definition.uuid) }
            logger.info("undefined secret", metadata: ["secret": "\(definition.uuid)"])
            events.emit(.undefined, secret: definition.handle)
        }
    }

    /// Writes a persistent secret's definition (and, when it was ephemeral before, its value);
    /// removes the files of a secret that becomes ephemeral.
    private func write(_ definition: SecretDefinition, value: [UInt8]?, wasPersistent: Bool) async throws(RemoteError) {
        let base = directory + "/\(definition.uuid)"
        let xml = definition.xml
        try await BlockingWork.run { () throws(RemoteError) in
            do throws(StoreError) {
                if definition.isEphemeral {
                    if wasPersistent {
                        unlink(base + ".xml")
                        unlink(base + ".base64")
                    }
                    return
                }
                if !wasPersistent, let value {
                    try DefinitionStore.atomicWrite(path: base + ".base64", contents: Array(Data(value).base64EncodedString().utf8))
                }
                try DefinitionStore.atomicWrite(path: base + ".xml", contents: Array(xml.utf8))
            } catch {
                throw RemoteError(code: .operationFailed, domain: .secret, detail: error.message)
            }
        }
    }
}

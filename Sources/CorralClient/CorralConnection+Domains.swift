public import CorralProtocol
import XDR

/// A domain's state and the reason for it (`virDomainGetState`).
public struct DomainStateInfo: Sendable, Hashable {
    /// `virDomainState`.
    public var state: Int32
    /// The state's reason.
    public var reason: Int32
}

/// `virDomainGetInfo`.
public struct DomainInfo: Sendable, Hashable {
    public var state: Int32
    public var maxMemoryKiB: UInt64
    public var memoryKiB: UInt64
    public var vcpus: Int
    public var cpuTimeNanoseconds: UInt64
}

extension CorralConnection {
    /// Finds a domain the way virsh does: as an id if it is a number, then as a UUID if it has
    /// 36 characters, then as a name.
    ///
    /// - Throws: ``CorralClientError`` "failed to get domain 'X'" if nothing matches.
    public func lookupDomain(_ text: String, byID: Bool = true, byUUID: Bool = true, byName: Bool = true) async throws(CorralClientError) -> DomainHandle {
        if byID, let id = Int32(text), id >= 0, let found = try? await call(Remote.DomainLookupByID.self, .init(id: id)) { return found.dom }
        if byUUID, text.count == 36, let uuid = RemoteUUID(text), let found = try? await call(Remote.DomainLookupByUUID.self, .init(uuid: uuid)) {
            return found.dom
        }
        if byName {
            do throws(CorralClientError) {
                return try await call(Remote.DomainLookupByName.self, .init(name: text)).dom
            } catch where error.code != .remote {
                throw error
            } catch {}
        }
        throw CorralClientError(code: .remote, message: "failed to get domain '\(text)'")
    }

    /// Defines (or redefines) a domain from its XML.
    public func defineDomain(xml: String, validate: Bool = false) async throws(CorralClientError) -> DomainHandle {
        if validate { return try await call(Remote.DomainDefineXMLFlags.self, .init(xml: xml, flags: 1)).dom }
        return try await call(Remote.DomainDefineXML.self, .init(xml: xml)).dom
    }

    /// Undefines a domain, falling back to the flag-less call as virsh does.
    public func undefineDomain(_ domain: DomainHandle, flags: UInt32 = 0) async throws(CorralClientError) {
        // Written without `catch where` and without awaiting inside the catch: either crashes the
        // Swift 6.3 optimiser here.
        let outcome: CorralClientError?
        do throws(CorralClientError) {
            _ = try await call(Remote.DomainUndefineFlags.self, .init(dom: domain, flags: flags))
            outcome = nil
        } catch {
            outcome = error
        }
        guard let outcome else { return }
        if !Self.undefineShouldFallBack(outcome, flags: flags) { throw outcome }
        _ = try await call(Remote.DomainUndefine.self, .init(dom: domain))
    }

    /// virsh falls back to the flag-less undefine when the flagged one is unsupported or refused.
    static func undefineShouldFallBack(_ error: CorralClientError, flags: UInt32) -> Bool {
        guard flags == 0 else { return false }
        if error.isNotSupported { return true }
        guard let remote = error.remote else { return false }
        return remote.code == .invalidArgument
    }

    /// The domain's XML; `flags` are libvirt's (`2` = inactive definition).
    public func domainXML(_ domain: DomainHandle, flags: UInt32 = 0) async throws(CorralClientError) -> String {
        try await call(Remote.DomainGetXMLDesc.self, .init(dom: domain, flags: flags)).xml
    }

    /// The domain's state and reason.
    public func domainState(_ domain: DomainHandle) async throws(CorralClientError) -> DomainStateInfo {
        let reply = try await call(Remote.DomainGetState.self, .init(dom: domain, flags: 0))
        return DomainStateInfo(state: reply.state, reason: reply.reason)
    }

    /// The domain's state, memory, vCPUs and CPU time.
    public func domainInfo(_ domain: DomainHandle) async throws(CorralClientError) -> DomainInfo {
        let reply = try await call(Remote.DomainGetInfo.self, .init(dom: domain))
        return DomainInfo(
            state: Int32(reply.state), maxMemoryKiB: reply.maxMem, memoryKiB: reply.memory, vcpus: Int(reply.nrVirtCpu),
            cpuTimeNanoseconds: reply.cpuTime)
    }

    /// Whether the domain starts with the daemon.
    public func domainAutostart(_ domain: DomainHandle) async throws(CorralClientError) -> Bool {
        try await call(Remote.DomainGetAutostart.self, .init(dom: domain)).autostart != 0
    }

    /// Turns autostart on or off.
    public func setDomainAutostart(_ domain: DomainHandle, _ on: Bool) async throws(CorralClientError) {
        _ = try await call(Remote.DomainSetAutostart.self, .init(dom: domain, autostart: on ? 1 : 0))
    }
}

extension CorralConnection {
    /// Starts a defined domain (`--paused` = 1, `--autodestroy` = 2); returns it with its new id.
    public func startDomain(_ domain: DomainHandle, flags: UInt32 = 0) async throws(CorralClientError) -> DomainHandle {
        if flags == 0 {
            _ = try await call(Remote.DomainCreate.self, .init(dom: domain))
            return try await call(Remote.DomainLookupByUUID.self, .init(uuid: domain.uuid)).dom
        }
        return try await call(Remote.DomainCreateWithFlags.self, .init(dom: domain, flags: flags)).dom
    }

    /// Creates and starts a transient domain from XML.
    public func createDomain(xml: String, flags: UInt32 = 0) async throws(CorralClientError) -> DomainHandle {
        try await call(Remote.DomainCreateXML.self, .init(xmlDesc: xml, flags: flags)).dom
    }

    /// Stops a domain at once.
    public func destroyDomain(_ domain: DomainHandle, graceful: Bool = false) async throws(CorralClientError) {
        if graceful {
            _ = try await call(Remote.DomainDestroyFlags.self, .init(dom: domain, flags: 1))
        } else {
            _ = try await call(Remote.DomainDestroy.self, .init(dom: domain))
        }
    }
}

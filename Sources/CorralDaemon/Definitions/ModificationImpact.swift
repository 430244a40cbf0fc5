import CorralProtocol

/// libvirt's `virDomainModificationImpact`: which of a domain's definitions a change touches.
struct ModificationImpact: Sendable, Hashable {
    /// `VIR_DOMAIN_AFFECT_LIVE` and `VIR_DOMAIN_AFFECT_CONFIG` (neither: "current").
    static let liveFlag: UInt32 = 1, configFlag: UInt32 = 2

    var live: Bool
    var config: Bool

    /// libvirt's check (`VIR_EXCLUSIVE_FLAGS`) for calls that read one definition: not both.
    static func checkOneDefinition(_ flags: UInt32, domain: ErrorDomain = .domain) throws(RemoteError) {
        guard flags & (liveFlag | configFlag) != liveFlag | configFlag else {
            throw RemoteError(code: .invalidArgument, domain: domain, detail: "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive")
        }
    }

    /// The definitions `flags` name for `record`: "current" is the running guest, or the
    /// definition of a stopped one; the live one needs a running guest and the persistent one a
    /// persistent domain (libvirt's `virDomainObjGetDefs` rules and messages).
    init(flags: UInt32, record: DomainRecord, domain: ErrorDomain = .qemu) throws(RemoteError) {
        live = flags & Self.liveFlag != 0
        config = flags & Self.configFlag != 0
        if !live && !config {
            if record.isActive { live = true } else { config = true }
        }
        if live && !record.isActive {
            throw RemoteError(code: .operationInvalid, domain: domain, detail: "domain is not running")
        }
        if config && !record.persistent {
            throw RemoteError(code: .operationInvalid, domain: domain, detail: "cannot change persistent config of a transient domain")
        }
    }
}

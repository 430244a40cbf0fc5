import CorralProtocol

/// Handlers for the domain procedures. Until definitions exist (the domain-definitions work),
/// the daemon has no domains, and the list calls answer with an empty list.
enum DomainProcedures {
    /// The `virConnectListAllDomainsFlags` bits Corral understands (all of libvirt 9.0's).
    static let knownListFlags: UInt32 = 0xFFFF

    static func register(in table: inout ProcedureTable) {
        table.register(Remote.ConnectListAllDomains.self) { arguments, _ throws(RemoteError) in
            guard arguments.flags & ~knownListFlags == 0 else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unsupported flags (0x\(String(arguments.flags & ~knownListFlags, radix: 16))) in function qemuConnectListAllDomains")
            }
            return .init(domains: [], ret: 0)
        }
    }
}

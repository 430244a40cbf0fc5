import CorralProtocol

/// How many networks there are, and which: none. Corral has no network driver yet, so it has no
/// networks and answers the listing calls truthfully with empty lists (libvirt's harnesses and
/// tools list them before anything else). Every other network procedure stays unknown until its
/// driver exists.
enum NetworkAndPoolListings {
    /// `VIR_CONNECT_LIST_NETWORKS_*` (INACTIVE … NO_AUTOSTART).
    static let networkListFlags: UInt32 = 0x3F

    static func register(in table: inout ProcedureTable) {
        table.register(Remote.ConnectNumOfNetworks.self) { _, _ in .init(num: 0) }
        table.register(Remote.ConnectNumOfDefinedNetworks.self) { _, _ in .init(num: 0) }
        table.register(Remote.ConnectListNetworks.self) { arguments, _ throws(RemoteError) in
            try checkMaximum(arguments.maxnames, "REMOTE_NETWORK_LIST_MAX")
            return .init(names: [])
        }
        table.register(Remote.ConnectListDefinedNetworks.self) { arguments, _ throws(RemoteError) in
            try checkMaximum(arguments.maxnames, "REMOTE_NETWORK_LIST_MAX")
            return .init(names: [])
        }
        table.register(Remote.ConnectListAllNetworks.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: networkListFlags, domain: .network, function: "networkConnectListAllNetworks")
            return .init(nets: [], ret: 0)
        }
    }

    /// libvirt's server refuses a negative or too large `maxnames` before calling the driver.
    static func checkMaximum(_ maxnames: Int32, _ limit: String) throws(RemoteError) {
        guard maxnames >= 0, maxnames <= 16384 else {
            throw RemoteError(code: .rpc, domain: .rpc, detail: "maxnames > \(limit)")
        }
    }
}

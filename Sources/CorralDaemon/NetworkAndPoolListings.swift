import CorralProtocol

/// How many networks and storage pools there are, and which: none. Corral has no network or
/// storage driver yet, so it has no such objects and answers the listing calls truthfully with
/// empty lists (libvirt's harnesses and tools list them before anything else). Every other
/// network and pool procedure stays unknown until its driver exists.
enum NetworkAndPoolListings {
    /// `VIR_CONNECT_LIST_NETWORKS_*` (INACTIVE … NO_AUTOSTART).
    static let networkListFlags: UInt32 = 0x3F
    /// `VIR_CONNECT_LIST_STORAGE_POOLS_*`: the state bits and one bit per pool type up to
    /// ISCSI_DIRECT (1 << 19).
    static let poolListFlags: UInt32 = (1 << 20) - 1

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
        table.register(Remote.ConnectNumOfStoragePools.self) { _, _ in .init(num: 0) }
        table.register(Remote.ConnectNumOfDefinedStoragePools.self) { _, _ in .init(num: 0) }
        table.register(Remote.ConnectListStoragePools.self) { arguments, _ throws(RemoteError) in
            try checkMaximum(arguments.maxnames, "REMOTE_STORAGE_POOL_LIST_MAX")
            return .init(names: [])
        }
        table.register(Remote.ConnectListDefinedStoragePools.self) { arguments, _ throws(RemoteError) in
            try checkMaximum(arguments.maxnames, "REMOTE_STORAGE_POOL_LIST_MAX")
            return .init(names: [])
        }
        table.register(Remote.ConnectListAllStoragePools.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: poolListFlags, domain: .storage, function: "storageConnectListAllStoragePools")
            return .init(pools: [], ret: 0)
        }
    }

    /// libvirt's server refuses a negative or too large `maxnames` before calling the driver.
    static func checkMaximum(_ maxnames: Int32, _ limit: String) throws(RemoteError) {
        guard maxnames >= 0, maxnames <= 16384 else {
            throw RemoteError(code: .rpc, domain: .rpc, detail: "maxnames > \(limit)")
        }
    }
}

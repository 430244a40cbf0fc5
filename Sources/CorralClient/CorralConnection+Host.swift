public import CorralProtocol

/// Host information, as `virNodeGetInfo` returns it.
public struct NodeInfo: Sendable, Hashable {
    /// The CPU architecture (for example `x86_64`).
    public var model: String
    /// Memory in KiB.
    public var memoryKiB: UInt64
    /// Active CPUs.
    public var cpus: Int
    /// CPU frequency in MHz.
    public var mhz: Int
    /// NUMA nodes.
    public var nodes: Int
    /// Sockets per node.
    public var sockets: Int
    /// Cores per socket.
    public var cores: Int
    /// Threads per core.
    public var threads: Int
}

/// A domain handle: name, UUID, and id (-1 when inactive).
public typealias DomainHandle = RemoteDomain

extension CorralConnection {
    /// The hypervisor type (`"QEMU"`).
    public func hypervisorType() async throws(CorralClientError) -> String {
        try await call(Remote.ConnectGetType.self).type
    }

    /// The hypervisor's version, encoded as major × 1,000,000 + minor × 1,000 + micro.
    public func hypervisorVersion() async throws(CorralClientError) -> UInt64 {
        try await call(Remote.ConnectGetVersion.self).hvVer
    }

    /// The daemon's libvirt version, encoded like ``hypervisorVersion()``.
    public func libraryVersion() async throws(CorralClientError) -> UInt64 {
        try await call(Remote.ConnectGetLibVersion.self).libVer
    }

    /// The daemon host's name.
    public func hostname() async throws(CorralClientError) -> String {
        try await call(Remote.ConnectGetHostname.self).hostname
    }

    /// The capabilities XML.
    public func capabilities() async throws(CorralClientError) -> String {
        try await call(Remote.ConnectGetCapabilities.self).capabilities
    }

    /// The URI the daemon says it opened.
    public func serverURI() async throws(CorralClientError) -> String {
        try await call(Remote.ConnectGetURI.self).uri
    }

    /// Host CPU and memory facts.
    public func nodeInfo() async throws(CorralClientError) -> NodeInfo {
        let info = try await call(Remote.NodeGetInfo.self)
        return NodeInfo(
            model: info.model, memoryKiB: info.memory, cpus: Int(info.cpus), mhz: Int(info.mhz), nodes: Int(info.nodes),
            sockets: Int(info.sockets), cores: Int(info.cores), threads: Int(info.threads)
        )
    }

    /// Lists domains (`virConnectListAllDomains`); `flags` are libvirt's `VIR_CONNECT_LIST_DOMAINS_*`
    /// bits (1 active, 2 inactive; 0 means all).
    public func listAllDomains(flags: UInt32 = 0) async throws(CorralClientError) -> [DomainHandle] {
        try await call(Remote.ConnectListAllDomains.self, .init(needResults: 1, flags: flags)).domains
    }
}

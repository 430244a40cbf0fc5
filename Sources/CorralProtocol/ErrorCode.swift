/// A libvirt error number (`virErrorNumber`), extensible so unknown numbers from a peer survive.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `VIR_ERR_INTERNAL_ERROR`.
    public static let internalError = ErrorCode(rawValue: 1)
    /// `VIR_ERR_NO_SUPPORT`.
    public static let noSupport = ErrorCode(rawValue: 3)
    /// `VIR_ERR_NO_CONNECT`.
    public static let noConnect = ErrorCode(rawValue: 5)
    /// `VIR_ERR_INVALID_ARG`.
    public static let invalidArgument = ErrorCode(rawValue: 8)
    /// `VIR_ERR_OPERATION_FAILED`.
    public static let operationFailed = ErrorCode(rawValue: 9)
    /// `VIR_ERR_XML_ERROR`.
    public static let xmlError = ErrorCode(rawValue: 27)
    /// `VIR_ERR_XML_DETAIL`: the parser's own message (line and problem).
    public static let xmlDetail = ErrorCode(rawValue: 35)
    /// `VIR_ERR_DOM_EXIST`.
    public static let domainExists = ErrorCode(rawValue: 28)
    /// `VIR_ERR_OPERATION_DENIED`.
    public static let operationDenied = ErrorCode(rawValue: 29)
    /// `VIR_ERR_RPC`.
    public static let rpc = ErrorCode(rawValue: 39)
    /// `VIR_ERR_NO_DOMAIN`.
    public static let noDomain = ErrorCode(rawValue: 42)
    /// `VIR_ERR_AUTH_FAILED`.
    public static let authFailed = ErrorCode(rawValue: 45)
    /// `VIR_ERR_OPERATION_INVALID`.
    public static let operationInvalid = ErrorCode(rawValue: 55)
    /// `VIR_ERR_CONFIG_UNSUPPORTED`.
    public static let configUnsupported = ErrorCode(rawValue: 67)
    /// `VIR_ERR_OPERATION_TIMEOUT`.
    public static let operationTimeout = ErrorCode(rawValue: 68)
    /// `VIR_ERR_ARGUMENT_UNSUPPORTED`.
    public static let argumentUnsupported = ErrorCode(rawValue: 74)
    /// `VIR_ERR_OPERATION_UNSUPPORTED`.
    public static let operationUnsupported = ErrorCode(rawValue: 84)
    /// `VIR_ERR_AGENT_UNRESPONSIVE`.
    public static let agentUnresponsive = ErrorCode(rawValue: 86)
    /// `VIR_ERR_SYSTEM_ERROR`: a system call failed; the message names it and `strerror`.
    public static let systemError = ErrorCode(rawValue: 38)
    /// `VIR_ERR_NO_STORAGE_POOL`.
    public static let noStoragePool = ErrorCode(rawValue: 49)
    /// `VIR_ERR_NO_STORAGE_VOL`.
    public static let noStorageVolume = ErrorCode(rawValue: 50)
    /// `VIR_ERR_INVALID_STREAM`.
    public static let invalidStream = ErrorCode(rawValue: 73)
    /// `VIR_ERR_STORAGE_POOL_BUILT`.
    public static let storagePoolBuilt = ErrorCode(rawValue: 76)
    /// `VIR_ERR_OPERATION_ABORTED`.
    public static let operationAborted = ErrorCode(rawValue: 78)
    /// `VIR_ERR_OVERFLOW`.
    public static let overflow = ErrorCode(rawValue: 82)
    /// `VIR_ERR_STORAGE_VOL_EXIST`.
    public static let storageVolumeExists = ErrorCode(rawValue: 90)
    /// `VIR_ERR_NO_DOMAIN_METADATA`.
    public static let noDomainMetadata = ErrorCode(rawValue: 80)
    /// `VIR_ERR_NO_HOSTNAME`.
    public static let noHostname = ErrorCode(rawValue: 108)
    /// `VIR_ERR_NO_DOMAIN_SNAPSHOT`.
    public static let noDomainSnapshot = ErrorCode(rawValue: 72)
    /// `VIR_ERR_SNAPSHOT_REVERT_RISKY`: a revert that needs `--force`.
    public static let snapshotRevertRisky = ErrorCode(rawValue: 77)
    /// `VIR_ERR_DEVICE_MISSING`: no device matches.
    public static let deviceMissing = ErrorCode(rawValue: 99)
    /// `VIR_ERR_NO_NAME`: a definition without a name.
    public static let noName = ErrorCode(rawValue: 21)
    /// `VIR_ERR_NETWORK_EXIST`.
    public static let networkExists = ErrorCode(rawValue: 37)
    /// `VIR_ERR_NO_NETWORK`.
    public static let noNetwork = ErrorCode(rawValue: 43)
    /// `VIR_ERR_NETWORK_PORT_EXIST`.
    public static let networkPortExists = ErrorCode(rawValue: 106)
    /// `VIR_ERR_NO_NETWORK_PORT`.
    public static let noNetworkPort = ErrorCode(rawValue: 107)
    /// `VIR_ERR_INVALID_SECRET`.
    public static let invalidSecret = ErrorCode(rawValue: 65)
    /// `VIR_ERR_NO_SECRET`.
    public static let noSecret = ErrorCode(rawValue: 66)
    /// `VIR_ERR_CPU_INCOMPATIBLE`: the guest's CPU asks for what the host's cannot give.
    public static let cpuIncompatible = ErrorCode(rawValue: 91)
    /// `VIR_ERR_MIGRATE_UNSAFE`.
    public static let migrateUnsafe = ErrorCode(rawValue: 83)
    /// `VIR_ERR_MIGRATE_FINISH_OK`: a Finish told that the migration was cancelled cleaned up.
    public static let migrateFinishOK = ErrorCode(rawValue: 93)

    /// libvirt's printf template for the code, as sent in `str1`.
    public var template: String {
        switch self {
        case .internalError: return "internal error: %s"
        case .noSupport: return "this function is not supported by the connection driver: %s"
        case .noConnect: return "no connection driver available for %s"
        case .invalidArgument: return "invalid argument: %s"
        case .operationFailed: return "operation failed: %s"
        case .xmlError: return "XML error: %s"
        case .domainExists: return "domain %s exists already"
        case .operationDenied: return "operation forbidden: %s"
        case .noDomain: return "Domain not found: %s"
        case .authFailed: return "authentication failed: %s"
        case .operationInvalid: return "Requested operation is not valid: %s"
        case .configUnsupported: return "unsupported configuration: %s"
        case .operationTimeout: return "Timed out during operation: %s"
        case .operationUnsupported: return "Operation not supported: %s"
        case .agentUnresponsive: return "Guest agent is not responding: %s"
        case .argumentUnsupported: return "argument unsupported: %s"
        case .migrateFinishOK: return "migration successfully aborted: %s"
        case .migrateUnsafe: return "Unsafe migration: %s"
        case .cpuIncompatible: return "the CPU is incompatible with host CPU: %s"
        case .noStoragePool: return "Storage pool not found: %s"
        case .noStorageVolume: return "Storage volume not found: %s"
        case .invalidStream: return "invalid stream pointer in %s"
        case .storagePoolBuilt: return "Storage pool already built: %s"
        case .operationAborted: return "operation aborted: %s"
        case .overflow: return "numerical overflow: %s"
        case .storageVolumeExists: return "storage volume %s exists already"
        case .noHostname: return "no hostname found: %s"
        case .noDomainMetadata: return "metadata not found: %s"
        case .noName: return "missing name information in %s"
        case .networkExists: return "network %s exists already"
        case .noNetwork: return "Network not found: %s"
        case .networkPortExists: return "network port %s exists already"
        case .noNetworkPort: return "network port not found: %s"
        case .invalidSecret: return "Invalid secret: %s"
        case .noSecret: return "Secret not found: %s"
        case .deviceMissing: return "device not found: %s"
        case .noDomainSnapshot: return "Domain snapshot not found: %s"
        case .snapshotRevertRisky: return "revert requires force: %s"
        default: return "%s"
        }
    }

    /// The template with `detail` filled in.
    public func format(_ detail: String) -> String {
        let parts = template.split(separator: "%s", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return detail }
        return parts[0] + detail + parts[1]
    }

    public var description: String { "\(rawValue)" }
}

/// A libvirt error domain (`virErrorDomain`): which component reported the error.
public struct ErrorDomain: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `VIR_FROM_NONE`.
    public static let none = ErrorDomain(rawValue: 0)
    /// `VIR_FROM_XML`.
    public static let xml = ErrorDomain(rawValue: 5)
    /// `VIR_FROM_DOM`.
    public static let dom = ErrorDomain(rawValue: 6)
    /// `VIR_FROM_RPC`.
    public static let rpc = ErrorDomain(rawValue: 7)
    /// `VIR_FROM_CONF`.
    public static let conf = ErrorDomain(rawValue: 9)
    /// `VIR_FROM_QEMU`.
    public static let qemu = ErrorDomain(rawValue: 10)
    /// `VIR_FROM_REMOTE`.
    public static let remote = ErrorDomain(rawValue: 13)
    /// `VIR_FROM_STORAGE`.
    public static let storage = ErrorDomain(rawValue: 18)
    /// `VIR_FROM_NETWORK`.
    public static let network = ErrorDomain(rawValue: 19)
    /// `VIR_FROM_DOMAIN`.
    public static let domain = ErrorDomain(rawValue: 20)
    /// `VIR_FROM_SECRET`.
    public static let secret = ErrorDomain(rawValue: 30)
    /// `VIR_FROM_CPU`: CPU models and features.
    public static let cpu = ErrorDomain(rawValue: 31)
    /// `VIR_FROM_DOMAIN_SNAPSHOT`.
    public static let domainSnapshot = ErrorDomain(rawValue: 35)
    /// `VIR_FROM_STREAMS`.
    public static let streams = ErrorDomain(rawValue: 38)
    /// `VIR_FROM_CGROUP`.
    public static let cgroup = ErrorDomain(rawValue: 54)
}

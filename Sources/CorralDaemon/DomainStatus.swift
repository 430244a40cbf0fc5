/// A domain's state together with the reason for it, as libvirt reports them
/// (`virDomainState` and the per-state `virDomain…Reason` enums): typed, so a reason can only
/// be one that belongs to its state.
public enum DomainStatus: Sendable, Hashable {
    case running(RunningReason)
    case paused(PausedReason)
    case shutdown(ShutdownReason)
    case shutoff(ShutoffReason)
    case crashed(CrashedReason)

    /// `virDomainRunningReason`.
    public enum RunningReason: Int32, Sendable {
        case unknown = 0, booted, migrated, restored, fromSnapshot, unpaused, migrationCanceled, saveCanceled, wakeup, crashed, postcopy, postcopyFailed
    }

    /// `virDomainPausedReason`.
    public enum PausedReason: Int32, Sendable {
        case unknown = 0, user, migration, save, dump, ioError, watchdog, fromSnapshot, shuttingDown, snapshot, crashed, starting, postcopy,
            postcopyFailed, apiError
    }

    /// `virDomainShutdownReason`.
    public enum ShutdownReason: Int32, Sendable {
        case unknown = 0, user
    }

    /// `virDomainShutoffReason`.
    public enum ShutoffReason: Int32, Sendable {
        case unknown = 0, shutdown, destroyed, crashed, migrated, saved, failed, fromSnapshot, daemon
    }

    /// `virDomainCrashedReason`.
    public enum CrashedReason: Int32, Sendable {
        case unknown = 0, panicked
    }

    /// The state.
    public var state: DomainState {
        switch self {
        case .running: return .running
        case .paused: return .paused
        case .shutdown: return .shutdown
        case .shutoff: return .shutoff
        case .crashed: return .crashed
        }
    }

    /// The reason's number on the wire.
    public var reasonCode: Int32 {
        switch self {
        case .running(let r): return r.rawValue
        case .paused(let r): return r.rawValue
        case .shutdown(let r): return r.rawValue
        case .shutoff(let r): return r.rawValue
        case .crashed(let r): return r.rawValue
        }
    }

    /// The status from its numbers (a status file); a reason the state does not have reads as
    /// `unknown`, a state Corral never reports as `nil`.
    public init?(state: DomainState, reason: Int32) {
        switch state {
        case .running: self = .running(RunningReason(rawValue: reason) ?? .unknown)
        case .paused: self = .paused(PausedReason(rawValue: reason) ?? .unknown)
        case .shutdown: self = .shutdown(ShutdownReason(rawValue: reason) ?? .unknown)
        case .shutoff: self = .shutoff(ShutoffReason(rawValue: reason) ?? .unknown)
        case .crashed: self = .crashed(CrashedReason(rawValue: reason) ?? .unknown)
        case .noState, .blocked, .pmSuspended: return nil
        }
    }
}

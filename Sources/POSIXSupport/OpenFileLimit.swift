import Glibc

/// The process's limit on open descriptors.
public enum OpenFileLimit {
    /// Raises the soft limit to the hard limit (a daemon serving thousands of clients and
    /// guests needs more than the usual 1024), and returns the limit now in force.
    @discardableResult
    public static func raiseToMaximum() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}

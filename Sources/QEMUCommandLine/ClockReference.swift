public import DomainXML
import Glibc

/// The moment a guest starts, for the clocks that start at a date (`<clock offset='variable'>`
/// and `'absolute'`): the host's time and its local time's offset from UTC then.
public struct ClockReference: Hashable, Sendable {
    /// Seconds since the epoch, UTC.
    public var utcSeconds: Int64
    /// How far the host's local time is ahead of UTC, in seconds.
    public var localOffsetSeconds: Int64

    public init(utcSeconds: Int64, localOffsetSeconds: Int64) {
        self.utcSeconds = utcSeconds
        self.localOffsetSeconds = localOffsetSeconds
    }

    /// The host's time now.
    public static func current() -> ClockReference {
        var now = time(nil)
        var local = tm()
        _ = localtime_r(&now, &local)
        return ClockReference(utcSeconds: Int64(now), localOffsetSeconds: Int64(local.tm_gmtoff))
    }

    /// A variable clock's adjustment from UTC now (one from local time is converted, as libvirt
    /// converts it: the live definition then says `basis='utc'`); `nil` for other clocks and
    /// for an adjustment too large to be a date.
    public func adjustmentFromUTC(of clock: DomainDefinition.ClockStart) -> Int64? {
        guard case .variable(let adjustment, let basis) = clock else { return nil }
        let fromUTC = basis == .localtime ? adjustment.addingReportingOverflow(localOffsetSeconds) : (partialValue: adjustment, overflow: false)
        guard !fromUTC.overflow, !utcSeconds.addingReportingOverflow(fromUTC.partialValue).overflow else { return nil }
        return fromUTC.partialValue
    }

    /// `seconds` after the epoch as QEMU's `-rtc base=` date (`2026-12-03T20:24:17`, UTC), or
    /// `nil` outside the years 1 to 9999.
    public static func date(_ seconds: Int64) -> String? { UTCDateText.format(seconds) }
}

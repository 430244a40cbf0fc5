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
    public static func date(_ seconds: Int64) -> String? {
        // A day number from the epoch to a civil date (the proleptic Gregorian calendar, in
        // 400-year eras of 146,097 days).
        let (days, secondOfDay) = (seconds.floorDivided(by: 86_400), seconds.floorModulo(86_400))
        let shifted = days + 719_468
        let era = shifted.floorDivided(by: 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        guard (1...9999).contains(year) else { return nil }
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let yearText = String(year)
        return String(repeating: "0", count: 4 - yearText.count) + yearText + "-\(two(month))-\(two(day))T"
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))"
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    fileprivate func floorModulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}

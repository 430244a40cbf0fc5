import DomainXML
import QEMUCommandLine
import Testing

@Suite("Clock start dates")
struct ClockReferenceTests {
    @Test("dates are QEMU's -rtc base format, in UTC, across eras, leap days and the epoch's past", arguments: [
        (Int64(0), "1970-01-01T00:00:00"),
        (-1, "1969-12-31T23:59:59"),
        (951_782_400, "2000-02-29T00:00:00"),
        (1_234_567_890, "2009-02-13T23:31:30"),
        (253_402_300_799, "9999-12-31T23:59:59"),
        (-62_135_596_800, "0001-01-01T00:00:00"),
    ])
    func dates(seconds: Int64, expected: String) {
        #expect(ClockReference.date(seconds) == expected)
    }

    @Test("dates outside the years 1 to 9999 are refused, the extremes of Int64 included")
    func outOfRange() {
        for seconds in [Int64(253_402_300_800), -62_135_596_801, .max, .min] {
            #expect(ClockReference.date(seconds) == nil)
        }
    }

    @Test("a variable clock's adjustment from UTC: local time converted; an overflowing one refused")
    func adjustments() {
        let reference = ClockReference(utcSeconds: 1_767_225_600, localOffsetSeconds: -18_000)
        #expect(reference.adjustmentFromUTC(of: .variable(adjustment: 60, basis: .utc)) == 60)
        #expect(reference.adjustmentFromUTC(of: .variable(adjustment: 60, basis: .localtime)) == 60 - 18_000)
        #expect(reference.adjustmentFromUTC(of: .variable(adjustment: .max, basis: .utc)) == nil)
        #expect(reference.adjustmentFromUTC(of: .variable(adjustment: .min, basis: .localtime)) == nil)
        #expect(reference.adjustmentFromUTC(of: .utc) == nil)
    }
}

import DomainXML
import Testing

@Suite("UTC dates")
struct UTCDateTextTests {
    @Test("libvirt's dates read and write back, unpadded fields accepted, impossible days refused")
    func parseAndFormat() {
        #expect(UTCDateText.parse("1970-01-01T00:00:00") == 0)
        #expect(UTCDateText.parse("2010-11-28T14:29:01") == 1_290_954_541)
        #expect(UTCDateText.parse("2031-2-3T4:05:6").flatMap(UTCDateText.format) == "2031-02-03T04:05:06")
        #expect(UTCDateText.parse("2024-02-29T23:59:59").flatMap(UTCDateText.format) == "2024-02-29T23:59:59")
        #expect(UTCDateText.parse("0001-01-01T00:00:00").flatMap(UTCDateText.format) == "0001-01-01T00:00:00")
        for bad in ["2023-02-29T00:00:00", "2010-02-30T14:29:01", "2010-13-01T00:00:00", "2010-01-01T24:00:00", "2010-01-01", "x-1-1T1:1:1", "10000-01-01T00:00:00"] {
            #expect(UTCDateText.parse(bad) == nil, "\(bad)")
        }
        #expect(UTCDateText.format(Int64.max) == nil && UTCDateText.format(Int64.min) == nil)
    }
}

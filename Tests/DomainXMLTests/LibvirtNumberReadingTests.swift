@testable import DomainXML
import Testing

/// The number spellings libvirt's parsers take, read as libvirt reads them: outside data, so
/// every reading ends in a value or `nil`, never a crash.
@Suite("libvirt's number readings")
struct LibvirtNumberReadingTests {
    @Test("strtol with base 0: decimal, 0x hexadecimal, leading-0 octal, signs and blanks; junk and overflow refused", arguments: [
        ("8", Int32?(8)), ("0x08", 8), ("0X1f", 31), ("010", 8), ("0", 0), (" -7", -7), ("+12", 12), ("-0x10", -16),
        ("08", nil), ("0x", nil), ("", nil), ("12a", nil), ("--1", nil), ("+-1", nil), ("2147483648", nil), ("-2147483648", Int32.min),
        ("99999999999999999999999", nil),
    ])
    func cIntegers(text: String, expected: Int32?) {
        #expect(AttributeValues.cInteger(text) == expected)
    }

    @Test("virXPathUInt: blanks and a plus sign taken, a minus sign and overflow refused")
    func unsigned32() {
        #expect(AttributeValues.libvirtUInt32(" +4096") == 4096)
        #expect(AttributeValues.libvirtUInt32("4294967295") == .max)
        #expect(AttributeValues.libvirtUInt32("4294967296") == nil)
        #expect(AttributeValues.libvirtUInt32("-1") == nil)
    }

    @Test("USB versions JJ.MN as BCD, JJ.M as JJ.M0; out-of-range parts refused", arguments: [
        ("2.0", Int32?(0x0200)), ("2.56", 0x0256), ("1.1", 0x0110), ("4.07", 0x0407), ("99.99", 0x9999),
        ("100.0", nil), ("2.100", nil), ("2", nil), (".5", nil), ("a.b", nil), ("-1.0", nil),
    ])
    func usbVersions(text: String, expected: Int32?) {
        #expect(DomainDefinition.USBRedirectionRule.version(text) == expected)
    }
}

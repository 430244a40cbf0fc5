import XMLTree

/// Readers of the attribute spellings libvirt reads everywhere (`virXMLPropTristateBool`,
/// `virXMLPropTristateSwitch`, `virXMLPropUInt`), with libvirt's messages.
enum AttributeValues {
    /// A two-word switch (`yes`/`no`, `on`/`off`); `nil` when absent.
    static func flag(_ attribute: String, of element: XMLElement?, on: String, off: String) throws(DomainXMLError) -> Bool? {
        guard let element, let text = element[attribute: attribute] else { return nil }
        guard text == on || text == off else {
            throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(attribute)' in element '\(element.name)': '\(text)'.")
        }
        return text == on
    }

    /// A `yes`/`no` attribute.
    static func yesNo(_ attribute: String, of element: XMLElement?) throws(DomainXMLError) -> Bool? {
        try flag(attribute, of: element, on: "yes", off: "no")
    }

    /// An `on`/`off` attribute.
    static func onOff(_ attribute: String, of element: XMLElement?) throws(DomainXMLError) -> Bool? {
        try flag(attribute, of: element, on: "on", off: "off")
    }

    /// An unsigned 32-bit attribute; `nil` when absent.
    static func unsigned(_ attribute: String, of element: XMLElement?) throws(DomainXMLError) -> UInt32? {
        guard let element, let text = element[attribute: attribute] else { return nil }
        guard let value = UInt32(text) else {
            throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(attribute)' in element '\(element.name)': '\(text)'. Expected non-negative integer value")
        }
        return value
    }

    /// A number as libvirt's `virXPathUInt` reads it (`virStrToLong_uip`): leading blanks and a
    /// `+` allowed, no minus sign; `nil` when it is not one.
    static func libvirtUInt32(_ text: String) -> UInt32? {
        let trimmed = text.drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" }
        return UInt32(trimmed)
    }

    /// The 64-bit form of ``libvirtUInt32(_:)`` (`virStrToLong_ullp`).
    static func libvirtUInt64(_ text: String) -> UInt64? {
        let trimmed = text.drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" }
        return UInt64(trimmed)
    }

    /// A number as C's `strtol` with base 0 reads it, and libvirt's `virStrToLong_i` keeps it:
    /// leading blanks, a sign, `0x` for hexadecimal, a leading `0` for octal, the whole text a
    /// 32-bit number; `nil` otherwise.
    static func cInteger(_ text: String) -> Int32? {
        var rest = Substring(text.drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" })
        var negative = false
        if let sign = rest.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            rest = rest.dropFirst()
        }
        let radix: Int
        if rest.hasPrefix("0x") || rest.hasPrefix("0X") {
            radix = 16
            rest = rest.dropFirst(2)
        } else if rest.hasPrefix("0") && rest.count > 1 {
            radix = 8
            rest = rest.dropFirst()
        } else {
            radix = 10
        }
        guard !rest.isEmpty, rest.first != "+", rest.first != "-", let magnitude = Int64(rest, radix: radix) else { return nil }
        return Int32(exactly: negative ? -magnitude : magnitude)
    }

    /// `<reconnect enabled='yes' timeout>` of a socket `source` as libvirt reads it
    /// (`virDomainChrSourceReconnectDefParseXML`): the seconds before connecting again, or nil
    /// when not enabled; the element itself, for a caller's own checks.
    static func reconnect(of source: XMLElement) throws(DomainXMLError) -> (seconds: UInt32, element: XMLElement)? {
        guard let element = source.element(named: "reconnect"), try yesNo("enabled", of: element) == true else { return nil }
        guard let text = element[attribute: "timeout"] else {
            throw DomainXMLError(.invalid, line: element.line, "Missing required attribute 'timeout' in element 'reconnect'")
        }
        guard let seconds = libvirtUInt32(text) else {
            throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'timeout' in element 'reconnect': '\(text)'. Expected non-negative integer value")
        }
        return (seconds, element)
    }
}

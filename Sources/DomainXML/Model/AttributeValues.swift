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
}

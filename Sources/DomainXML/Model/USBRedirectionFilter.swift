import XMLTree

extension DomainDefinition {
    /// `<redirfilter><usbdev class vendor product version allow>`: which USB devices the
    /// guest's redirection ports accept (the first rule that matches decides).
    public struct USBRedirectionRule: Hashable, Sendable {
        /// The USB class (0–255); `nil`: any.
        public var usbClass: Int32?
        /// The vendor and product ids; `nil`: any.
        public var vendor: Int32?
        public var product: Int32?
        /// The USB version as BCD (`2.56` is 0x0256); `nil`: any.
        public var version: Int32?
        /// Whether a matching device may be redirected.
        public var allow: Bool

        static let filterSchema = ElementSchema("redirfilter", children: [
            ElementSchema("usbdev", attributes: ["class", "vendor", "product", "version", "allow"]),
        ])

        /// Reads `<usbdev>` as libvirt does (`virDomainRedirFilterUSBDevDefParseXML`): numbers
        /// in C's notations (`0x`, a leading `0` for octal), a negative one for any, a version
        /// `JJ.MN`.
        init(_ element: XMLElement) throws(DomainXMLError) {
            func integer(_ name: String) throws(DomainXMLError) -> Int32? {
                guard let text = element[attribute: name] else { return nil }
                guard let value = AttributeValues.cInteger(text) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(name)' in element 'usbdev': '\(text)'. Expected integer value")
                }
                return value < 0 ? nil : value
            }
            usbClass = try integer("class")
            if let usbClass, usbClass & ~0xFF != 0 {
                throw DomainXMLError(.internalError, line: element.line, "Invalid USB Class code 0x\(String(usbClass, radix: 16))")
            }
            vendor = try integer("vendor")
            product = try integer("product")
            if let text = element[attribute: "version"], text != "-1" {
                guard let version = Self.version(text) else { throw DomainXMLError(.invalid, line: element.line, "Cannot parse USB device version \(text)") }
                self.version = version
            }
            guard let allowText = element[attribute: "allow"] else {
                throw DomainXMLError(.invalid, line: element.line, "Missing required attribute 'allow' in element 'usbdev'")
            }
            guard allowText == "yes" || allowText == "no" else {
                throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'allow' in element 'usbdev': '\(allowText)'.")
            }
            allow = allowText == "yes"
        }

        /// `JJ.MN` as BCD (`JJ.M` is `JJ.M0`), libvirt's reading; `nil` when it is not one.
        static func version(_ text: String) -> Int32? {
            let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let major = Int32(parts[0]), let minorValue = Int32(parts[1]), (0..<100).contains(major), (0..<100).contains(minorValue)
            else { return nil }
            let minor = parts[1].count == 1 ? minorValue * 10 : minorValue
            return (major / 10) << 12 | (major % 10) << 8 | (minor / 10) << 4 | (minor % 10)
        }

        /// `value` as `0x` and at least `digits` upper-case hexadecimal digits (libvirt's `%0NX`).
        static func hex(_ value: Int32, digits: Int) -> String {
            let text = String(value, radix: 16, uppercase: true)
            return "0x" + String(repeating: "0", count: max(0, digits - text.count)) + text
        }

        /// `<usbdev>` as libvirt writes it.
        var element: XMLElement {
            var attributes: [XMLAttribute] = []
            if let usbClass { attributes.append(XMLAttribute(name: "class", value: Self.hex(usbClass, digits: 2))) }
            if let vendor { attributes.append(XMLAttribute(name: "vendor", value: Self.hex(vendor, digits: 4))) }
            if let product { attributes.append(XMLAttribute(name: "product", value: Self.hex(product, digits: 4))) }
            if let version {
                let major = ((version & 0xF000) >> 12) * 10 + ((version & 0x0F00) >> 8)
                let minor = ((version & 0x00F0) >> 4) * 10 + (version & 0x000F)
                attributes.append(XMLAttribute(name: "version", value: "\(major)." + (minor < 10 ? "0" : "") + "\(minor)"))
            }
            attributes.append(XMLAttribute(name: "allow", value: allow ? "yes" : "no"))
            return XMLElement(name: "usbdev", attributes: attributes)
        }

        /// The rule in `usb-redir`'s `filter` syntax (`class:vendor:product:version:allow`, -1 for any).
        public var qemuFilter: String {
            func hex(_ value: Int32?, digits: Int) -> String { value.map { Self.hex($0, digits: digits) } ?? "-1" }
            return [hex(usbClass, digits: 2), hex(vendor, digits: 4), hex(product, digits: 4), hex(version, digits: 4), allow ? "1" : "0"].joined(separator: ":")
        }
    }
}

import XMLTree

extension DomainDefinition {
    /// `<address type='isa' iobase irq>`: where an ISA device sits, numbers read in hexadecimal
    /// (with or without `0x`) as libvirt reads them, 0 meaning not given.
    public struct ISAAddress: Hashable, Sendable {
        public var ioBase: UInt32
        public var irq: UInt32

        /// The device's ISA address, if its `<address>` is one.
        init?(device: XMLElement) throws(DomainXMLError) {
            guard let address = device.element(named: "address"), address[attribute: "type"] == "isa" else { return nil }
            ioBase = try Self.hex("iobase", of: address)
            irq = try Self.hex("irq", of: address)
        }

        static func hex(_ name: String, of address: XMLElement) throws(DomainXMLError) -> UInt32 {
            guard let text = address[attribute: name] else { return 0 }
            let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? String(text.dropFirst(2)) : text
            guard let value = UInt32(digits, radix: 16) else {
                throw DomainXMLError(.invalid, line: address.line, "Invalid value for attribute '\(name)' in element 'address': '\(text)'. Expected hexadecimal unsigned integer value")
            }
            return value
        }
    }
}

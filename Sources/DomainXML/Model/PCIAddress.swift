public import XMLTree

extension DomainDefinition {
    /// `<address type='pci' domain bus slot function>`: where a device sits on the guest's PCI
    /// buses. Corral keeps it for devices hot-plugged onto a root port, so a device attached with
    /// `--live --config` comes back on the same port after a restart.
    public struct PCIAddress: Hashable, Sendable, CustomStringConvertible {
        public var domain: UInt32
        public var bus: UInt32
        public var slot: UInt32
        public var function: UInt32
        /// `multifunction='on'`: the slot's other functions hold devices too.
        public var multifunction: Bool

        public init(domain: UInt32 = 0, bus: UInt32, slot: UInt32, function: UInt32 = 0, multifunction: Bool = false) {
            self.domain = domain
            self.bus = bus
            self.slot = slot
            self.function = function
            self.multifunction = multifunction
        }

        /// Reads the `<address>` of `device` when it is of type `pci`, within libvirt's limits:
        /// domain ≤ 0xffff, bus ≤ 0xff, slot ≤ 0x1f, function ≤ 7.
        public init?(device: XMLElement) throws(DomainXMLError) {
            guard let address = device.element(named: "address"), address[attribute: "type"] == "pci" else { return nil }
            // Read field by field (every device's address is read several times per define).
            func field(_ name: String, limit: UInt32) throws(DomainXMLError) -> UInt32 {
                guard let text = address[attribute: name] else { return 0 }
                guard let value = Self.number(text), value <= limit else {
                    throw DomainXMLError(.invalid, line: address.line, "Invalid PCI address \(name) '\(text)', must be <= 0x\(String(limit, radix: 16))")
                }
                return value
            }
            let domain = try field("domain", limit: 0xffff), bus = try field("bus", limit: 0xff)
            let slot = try field("slot", limit: 0x1f), function = try field("function", limit: 7)
            self.init(domain: domain, bus: bus, slot: slot, function: function, multifunction: address[attribute: "multifunction"] == "on")
        }

        /// A number as libvirt reads it: `0x` hexadecimal, or decimal.
        static func number(_ text: String) -> UInt32? {
            DeviceCommon.unsigned(text).flatMap { UInt32(exactly: $0) }
        }

        /// `value` in at least `width` lowercase hexadecimal digits, after `prefix`.
        static func hex(_ value: UInt32, _ width: Int, prefix: String = "") -> String {
            // Written into the string's own storage: these are short enough to be stored
            // inline, so no allocation (the address element is written per device per define).
            let digits = max(width, (32 - value.leadingZeroBitCount + 3) / 4)
            let prefixBytes = prefix.utf8
            return String(unsafeUninitializedCapacity: prefixBytes.count + digits) { buffer in
                var position = 0
                for byte in prefixBytes {
                    buffer[position] = byte
                    position += 1
                }
                for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
                    let nibble = UInt8(truncatingIfNeeded: shift < 32 ? value >> UInt32(shift) & 0xf : 0)
                    buffer[position] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                    position += 1
                }
                return position
            }
        }

        /// `dddd:bb:ss.f`, as libvirt writes addresses in messages.
        public var description: String { "\(Self.hex(domain, 4)):\(Self.hex(bus, 2)):\(Self.hex(slot, 2)).\(Self.hex(function, 1))" }

        /// The element, in libvirt's spelling.
        public var element: XMLElement {
            var attributes: [XMLAttribute] = []
            attributes.reserveCapacity(6)
            attributes.append(XMLAttribute(name: "type", value: "pci"))
            attributes.append(XMLAttribute(name: "domain", value: Self.hex(domain, 4, prefix: "0x")))
            attributes.append(XMLAttribute(name: "bus", value: Self.hex(bus, 2, prefix: "0x")))
            attributes.append(XMLAttribute(name: "slot", value: Self.hex(slot, 2, prefix: "0x")))
            attributes.append(XMLAttribute(name: "function", value: Self.hex(function, 1, prefix: "0x")))
            if multifunction { attributes.append(XMLAttribute(name: "multifunction", value: "on")) }
            return XMLElement(name: "address", attributes: attributes)
        }
    }
}

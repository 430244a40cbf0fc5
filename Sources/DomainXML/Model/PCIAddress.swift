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

        /// libvirt's limits: bus ≤ 0xff, slot ≤ 0x1f, function ≤ 7, domain ≤ 0xffff.
        static let limits: [(String, UInt32)] = [("domain", 0xffff), ("bus", 0xff), ("slot", 0x1f), ("function", 7)]

        /// Reads the `<address>` of `device` when it is of type `pci`.
        public init?(device: XMLElement) throws(DomainXMLError) {
            guard let address = device.element(named: "address"), address[attribute: "type"] == "pci" else { return nil }
            var values: [UInt32] = []
            for (name, limit) in Self.limits {
                guard let text = address[attribute: name] else {
                    values.append(0)
                    continue
                }
                guard let value = Self.number(text), value <= limit else {
                    throw DomainXMLError(.invalid, line: address.line, "Invalid PCI address \(name) '\(text)', must be <= 0x\(String(limit, radix: 16))")
                }
                values.append(value)
            }
            self.init(domain: values[0], bus: values[1], slot: values[2], function: values[3], multifunction: address[attribute: "multifunction"] == "on")
        }

        /// A number as libvirt reads it: `0x` hexadecimal, or decimal.
        static func number(_ text: String) -> UInt32? {
            DeviceCommon.unsigned(text).flatMap { UInt32(exactly: $0) }
        }

        static func hex(_ value: UInt32, _ width: Int) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }

        /// `dddd:bb:ss.f`, as libvirt writes addresses in messages.
        public var description: String { "\(Self.hex(domain, 4)):\(Self.hex(bus, 2)):\(Self.hex(slot, 2)).\(Self.hex(function, 1))" }

        /// The element, in libvirt's spelling.
        public var element: XMLElement {
            XMLElement(name: "address", attributes: [
                XMLAttribute(name: "type", value: "pci"), XMLAttribute(name: "domain", value: "0x" + Self.hex(domain, 4)),
                XMLAttribute(name: "bus", value: "0x" + Self.hex(bus, 2)), XMLAttribute(name: "slot", value: "0x" + Self.hex(slot, 2)),
                XMLAttribute(name: "function", value: "0x" + Self.hex(function, 1)),
            ] + (multifunction ? [XMLAttribute(name: "multifunction", value: "on")] : []))
        }
    }
}

/// A MAC address, written as libvirt writes one: six lowercase hex pairs with colons.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    /// The six bytes.
    public let bytes: [UInt8]

    /// Reads `aa:bb:cc:dd:ee:ff` (each part one or two hex digits, as `virMacAddrParse`).
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...2).contains(part.count), let value = UInt8(part, radix: 16) else { return nil }
            bytes.append(value)
        }
        self.bytes = bytes
    }

    /// A MAC address from six bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 6)
        self.bytes = bytes
    }

    /// A random address in QEMU's `52:54:00` range, as libvirt generates them.
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> MACAddress {
        MACAddress(bytes: [0x52, 0x54, 0x00, .random(in: 0...255, using: &generator), .random(in: 0...255, using: &generator), .random(in: 0...255, using: &generator)])
    }

    /// Whether the group bit is set (multicast and broadcast addresses).
    public var isMulticast: Bool { bytes[0] & 1 != 0 }

    public var description: String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: ":")
    }
}

import Glibc

/// An IPv4 or IPv6 address, as libvirt's `virSocketAddr` holds one: parsed with the C library's
/// `inet_pton` and written in its canonical form (`inet_ntop`), so `::0:1` reads back as `::1`.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address family.
    public enum Family: String, Sendable, Hashable {
        case ipv4, ipv6

        /// The number of bits in an address.
        public var bitCount: Int { self == .ipv4 ? 32 : 128 }
    }

    /// The address in network order: 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// The family, from the length.
    public var family: Family { bytes.count == 4 ? .ipv4 : .ipv6 }

    /// Reads a textual address of either family; `nil` when it is neither.
    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count < 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    /// An address from its bytes (4 or 16 of them).
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// An IPv4 address from its 32-bit value.
    public init(ipv4 value: UInt32) {
        bytes = [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// The IPv4 address as a number (`nil` for IPv6).
    public var ipv4Value: UInt32? {
        guard family == .ipv4 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = self.family == .ipv4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, 64) }
        guard written != nil else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether every bit is zero (`0.0.0.0`, `::`).
    public var isWildcard: Bool { bytes.allSatisfy { $0 == 0 } }

    /// The netmask of `prefix` bits in `family`.
    public static func netmask(prefix: Int, family: Family) -> IPAddress {
        let count = family == .ipv4 ? 4 : 16
        var bytes = [UInt8](repeating: 0, count: count)
        var remaining = max(0, min(prefix, family.bitCount))
        for index in 0..<count where remaining > 0 {
            let bits = min(8, remaining)
            bytes[index] = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            remaining -= bits
        }
        return IPAddress(bytes: bytes)!
    }

    /// The prefix length this address has when read as a netmask, or `nil` when its ones are not
    /// contiguous.
    public var netmaskPrefix: Int? {
        var prefix = 0
        var seenZero = false
        for byte in bytes {
            for bit in (0..<8).reversed() {
                if byte & (1 << bit) != 0 {
                    if seenZero { return nil }
                    prefix += 1
                } else {
                    seenZero = true
                }
            }
        }
        return prefix
    }

    /// This address with all but the first `prefix` bits cleared (the network address).
    public func masked(prefix: Int) -> IPAddress {
        let mask = Self.netmask(prefix: prefix, family: family)
        return IPAddress(bytes: zip(bytes, mask.bytes).map { $0 & $1 })!
    }

    /// The IPv4 broadcast address of the network of `prefix` bits holding this address.
    public func broadcast(prefix: Int) -> IPAddress {
        let mask = Self.netmask(prefix: prefix, family: family)
        return IPAddress(bytes: zip(bytes, mask.bytes).map { $0 | ~$1 })!
    }

    /// Whether `other` is in the network of `prefix` bits that holds this address.
    public func sameNetwork(as other: IPAddress, prefix: Int) -> Bool {
        family == other.family && masked(prefix: prefix) == other.masked(prefix: prefix)
    }

    /// This address plus `offset` (wrapping within the family's space is refused: `nil`).
    public func adding(_ offset: UInt64) -> IPAddress? {
        var result = bytes
        var carry = offset
        for index in result.indices.reversed() where carry > 0 {
            let sum = UInt64(result[index]) + (carry & 0xFF)
            result[index] = UInt8(sum & 0xFF)
            carry = (carry >> 8) + (sum >> 8)
        }
        return carry == 0 ? IPAddress(bytes: result) : nil
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.bytes.count != rhs.bytes.count { return lhs.bytes.count < rhs.bytes.count }
        return lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// libvirt's "natural" prefix when an `<ip>` gives neither netmask nor prefix: the class of
    /// an IPv4 address (A 8, B 16, C 24; `nil` beyond), 64 for IPv6, 0 for a wildcard.
    public var naturalPrefix: Int? {
        if isWildcard { return 0 }
        guard family == .ipv4 else { return 64 }
        let octet = bytes[0]
        if octet & 0x80 == 0 { return 8 }
        if octet & 0xC0 == 0x80 { return 16 }
        if octet & 0xE0 == 0xC0 { return 24 }
        return nil
    }
}

/// CRC-32 (IEEE 802.3, the polynomial zlib and Ethernet use), table-driven.
///
/// Written here rather than taken from a package: none of the packages Corral uses exposes one,
/// and linking zlib for a checksum of a few kilobytes per record would add a system module for
/// twenty lines.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    /// The checksum of `bytes`, continuing from `crc` (a previous call's result; 0 to start).
    static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes, continuing crc: UInt32 = 0) -> UInt32 {
        var value = ~crc
        for byte in bytes { value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8) }
        return ~value
    }
}

/// CRC-32 (IEEE 802.3, the polynomial zlib and Ethernet use), table-driven: eight bytes a step
/// ("slicing by eight") over contiguous bytes, one byte a step otherwise.
///
/// Written here rather than taken from a package: none of the packages Corral uses exposes one,
/// and linking zlib for a checksum of a few kilobytes per record would add a system module for
/// a few dozen lines. (The SSE 4.2 `crc32` instruction computes CRC-32C, another polynomial, so
/// it cannot check the journal's records.)
enum CRC32 {
    /// Eight tables of 256 entries, one after the other: entry `k * 256 + b` is the CRC of byte
    /// `b` followed by `k` zero bytes; the first table is the classic byte-at-a-time one.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var value = UInt32(index)
            for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
            tables[index] = value
        }
        for entry in 256..<(8 * 256) {
            let previous = tables[entry - 256]
            tables[entry] = tables[Int(previous & 0xFF)] ^ (previous >> 8)
        }
        return tables
    }()

    /// The checksum of `bytes`, continuing from `crc` (a previous call's result; 0 to start).
    static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes, continuing crc: UInt32 = 0) -> UInt32 {
        if let value = bytes.withContiguousStorageIfAvailable({ sliced($0, continuing: crc) }) { return value }
        return bytewise(bytes, continuing: crc)
    }

    /// One byte a step: the reference the sliced form must equal.
    static func bytewise<Bytes: Sequence<UInt8>>(_ bytes: Bytes, continuing crc: UInt32 = 0) -> UInt32 {
        var value = ~crc
        for byte in bytes { value = tables[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8) }
        return ~value
    }

    /// Eight bytes a step (two little-endian words folded through the eight tables), then the
    /// tail a byte at a time.
    private static func sliced(_ bytes: UnsafeBufferPointer<UInt8>, continuing crc: UInt32) -> UInt32 {
        tables.withUnsafeBufferPointer { t in
            func word(_ at: Int) -> UInt32 {
                UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
            }
            var value = ~crc
            var index = 0
            let count = bytes.count
            while count - index >= 8 {
                let low = value ^ word(index), high = word(index + 4)
                value = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)] ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)] ^ t[256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                index += 8
            }
            while index < count {
                value = t[Int((value ^ UInt32(bytes[index])) & 0xFF)] ^ (value >> 8)
                index += 1
            }
            return ~value
        }
    }
}

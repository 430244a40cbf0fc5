import CorralStorage
import Testing

@Suite("sizes with units")
struct ScaledSizeTests {
    @Test("libvirt's units: powers of 1000 for KB…EB, of 1024 for K/KiB…E/EiB, any case", arguments: [
        ("10", nil, 10), ("10", "bytes", 10), ("10", "B", 10), ("1", "KB", 1000), ("1", "k", 1024), ("1", "KiB", 1024),
        ("3", "MB", 3_000_000), ("3", "M", 3 << 20), ("2", "GiB", 2 << 30), ("2", "gb", 2_000_000_000), ("1", "T", 1 << 40),
        ("1", "PiB", 1 << 50), ("7", "E", 7 << 60),
    ] as [(String, String?, UInt64)])
    func units(text: String, unit: String?, bytes: UInt64) throws {
        #expect(try ScaledSize.bytes(text, unit: unit, element: "capacity") == bytes)
    }

    @Test("bad numbers and units get libvirtd's errors")
    func refusals() {
        #expect(throws: StorageError(.xml, "malformed capacity element")) { try ScaledSize.bytes("-1", unit: nil, element: "capacity") }
        #expect(throws: StorageError(.xml, "malformed capacity element")) { try ScaledSize.bytes("1M", unit: nil, element: "capacity") }
        #expect(throws: StorageError(.xml, "malformed allocation element")) { try ScaledSize.bytes("", unit: nil, element: "allocation") }
        #expect(throws: StorageError(.xml, "malformed capacity element")) {
            try ScaledSize.bytes("99999999999999999999999", unit: nil, element: "capacity")
        }
        #expect(throws: StorageError(.invalidArgument, "unknown suffix 'zz'", fromUtility: true)) {
            try ScaledSize.bytes("1", unit: "zz", element: "capacity")
        }
        #expect(throws: StorageError(.invalidArgument, "unknown suffix 'Kx'", fromUtility: true)) {
            try ScaledSize.bytes("1", unit: "Kx", element: "capacity")
        }
        #expect(throws: StorageError(.overflow, "value too large: 100E", fromUtility: true)) {
            try ScaledSize.bytes("100", unit: "E", element: "capacity")
        }
    }
}

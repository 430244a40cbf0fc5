/// What the first bytes of an image file say about it: its format, its guest-visible size and its
/// backing file, read as libvirt's `virStorageFileProbe` does (no child process per file: a
/// refresh of a pool with many images stays cheap).
///
/// Formats recognised by their magic: qcow2 and qcow (size and backing file, with qcow2's
/// backing-format extension), qed, vmdk (sparse extent), vdi, vpc and iso. Anything else is raw,
/// whose size is the file's.
public struct ImageHeader: Sendable, Hashable {
    /// How many bytes of the file to read for a probe.
    public static let probeLength = 65_536

    /// The format.
    public var format: VolumeFormat
    /// The guest-visible size, when the header says (raw and iso: `nil`, the file's size).
    public var virtualSize: UInt64?
    /// The backing file's name as stored in the image.
    public var backingPath: String?
    /// The backing file's format, when the image records it.
    public var backingFormat: VolumeFormat?
    /// qcow2's cluster size, bytes.
    public var clusterSize: UInt64?

    /// Creates a header.
    public init(format: VolumeFormat, virtualSize: UInt64?, backingPath: String? = nil, backingFormat: VolumeFormat? = nil) {
        self.format = format
        self.virtualSize = virtualSize
        self.backingPath = backingPath
        self.backingFormat = backingFormat
    }

    /// Reads `bytes`, the first bytes of a file (up to ``probeLength``).
    public static func probe(_ bytes: [UInt8]) -> ImageHeader {
        let reader = ByteReader(bytes: bytes)
        if reader.bigEndian32(at: 0) == 0x5146_49FB {
            return qcow(reader)
        }
        if reader.littleEndian32(at: 0) == 0x0044_4551 {  // "QED\0"
            var header = ImageHeader(format: .qed, virtualSize: reader.littleEndian64(at: 48))
            if let offset = reader.littleEndian32(at: 56), let size = reader.littleEndian32(at: 60), size > 0 {
                header.backingPath = reader.string(at: Int(offset), length: Int(size))
            }
            return header
        }
        if reader.littleEndian32(at: 0) == 0x564D_444B {  // "KDMV"
            return ImageHeader(format: .vmdk, virtualSize: reader.littleEndian64(at: 12).map { $0 &* 512 })
        }
        if reader.littleEndian32(at: 64) == 0xBEDA_107F {
            return ImageHeader(format: .vdi, virtualSize: reader.littleEndian64(at: 368))
        }
        if reader.string(at: 0, length: 8) == "conectix" {
            return ImageHeader(format: .vpc, virtualSize: reader.bigEndian64(at: 48))
        }
        if reader.string(at: 32769, length: 5) == "CD001" {
            return ImageHeader(format: .iso, virtualSize: nil)
        }
        return ImageHeader(format: .raw, virtualSize: nil)
    }

    /// qcow2 (versions 2 and 3) and qcow (version 1).
    private static func qcow(_ reader: ByteReader) -> ImageHeader {
        let version = reader.bigEndian32(at: 4) ?? 0
        var header = ImageHeader(format: version == 1 ? .qcow : .qcow2, virtualSize: reader.bigEndian64(at: 24))
        if let offset = reader.bigEndian64(at: 8), let size = reader.bigEndian32(at: 16), offset > 0, size > 0, size <= 1023,
            offset < UInt64(probeLength)
        {
            header.backingPath = reader.string(at: Int(offset), length: Int(size))
        }
        if version >= 2, let bits = reader.bigEndian32(at: 20), bits >= 9, bits <= 21 {
            header.clusterSize = 1 << UInt64(bits)
        }
        guard version >= 2, header.backingPath != nil else { return header }
        // Header extensions follow the header (72 bytes in version 2; its length field in 3).
        var position = version >= 3 ? Int(reader.bigEndian32(at: 100) ?? 104) : 72
        var steps = 0
        while steps < 64, let type = reader.bigEndian32(at: position), let length = reader.bigEndian32(at: position + 4), type != 0 {
            steps += 1
            let data = position + 8
            if type == 0xE279_2ACA {
                header.backingFormat = reader.string(at: data, length: Int(length)).flatMap(VolumeFormat.init(rawValue:))
            }
            let padded = (Int(length) + 7) & ~7
            guard padded < probeLength else { break }
            position = data + padded
        }
        return header
    }
}

/// Bounds-checked reads from a byte array: every read past the end is `nil`.
struct ByteReader {
    let bytes: [UInt8]

    func bigEndian32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= bytes.count - 4 else { return nil }
        return (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[offset + $1]) }
    }

    func bigEndian64(at offset: Int) -> UInt64? {
        guard offset >= 0, offset <= bytes.count - 8 else { return nil }
        return (0..<8).reduce(0) { $0 << 8 | UInt64(bytes[offset + $1]) }
    }

    func littleEndian32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= bytes.count - 4 else { return nil }
        return (0..<4).reversed().reduce(0) { $0 << 8 | UInt32(bytes[offset + $1]) }
    }

    func littleEndian64(at offset: Int) -> UInt64? {
        guard offset >= 0, offset <= bytes.count - 8 else { return nil }
        return (0..<8).reversed().reduce(0) { $0 << 8 | UInt64(bytes[offset + $1]) }
    }

    func string(at offset: Int, length: Int) -> String? {
        guard offset >= 0, length >= 0, offset <= bytes.count - length else { return nil }
        let slice = bytes[offset..<(offset + length)]
        guard !slice.contains(0) else {
            return String(decoding: slice.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return String(decoding: slice, as: UTF8.self)
    }
}

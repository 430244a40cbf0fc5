import CorralProtocol

/// The first 92 bytes of libvirt's QEMU save image (`virQEMUSaveHeader`), so images move between
/// corrald and libvirtd both ways: a magic that says whether the image is complete, the format
/// version (2), the length of the data that follows (the domain XML, an optional cookie, and
/// zero padding that lets the XML grow in place), whether the guest was running, how QEMU's
/// migration stream after the data is compressed, and where the cookie starts. Host byte order,
/// as libvirt writes it; a reader that sees a version beyond 2 swaps the bytes and tries again.
///
/// A pure codec: bytes in, a header out (or libvirt's error), and back.
struct SaveImageHeader: Equatable, Sendable {
    /// `QEMU_SAVE_MAGIC` and `QEMU_SAVE_PARTIAL` (16 bytes, no terminator).
    static let completeMagic = Array("LibvirtQemudSave".utf8)
    static let partialMagic = Array("LibvirtQemudPart".utf8)
    /// `QEMU_SAVE_VERSION`.
    static let currentVersion: UInt32 = 2
    /// The header's size on disk.
    static let size = 92
    /// The zero padding libvirt leaves after the XML (64 KiB).
    static let padding = 64 * 1024
    /// The most data (XML, cookie, padding) Corral reads: the XML parser's own limit and the
    /// padding. libvirt reads any positive length; a length from a file is outside data.
    static let maximumDataLength = 4 << 20 + padding

    /// How QEMU's migration stream is stored (`virQEMUSaveFormat`; 5 is later libvirt's zstd).
    enum Format: UInt32, Sendable, CaseIterable {
        case raw = 0, gzip, bzip2, xz, lzop, zstd

        /// The program that decompresses the format (from standard input to standard output)
        /// and its arguments, as libvirt runs it.
        var decompressor: [String]? {
            switch self {
            case .raw: return nil
            case .gzip: return ["gzip", "-dc"]
            case .bzip2: return ["bzip2", "-dc"]
            case .xz: return ["xz", "-dc"]
            case .lzop: return ["lzop", "-dc"]
            case .zstd: return ["zstd", "-dc"]
            }
        }
    }

    var isComplete: Bool
    var version: UInt32 = currentVersion
    /// Bytes of XML, cookie and padding after the header.
    var dataLength: UInt32
    var wasRunning: Bool
    var format: Format = .raw
    /// Where the cookie starts, counted from the XML's start; 0 when there is none.
    var cookieOffset: UInt32 = 0

    /// Where QEMU's migration stream starts.
    var streamOffset: Int { Self.size + Int(dataLength) }

    /// The header's 92 bytes.
    var bytes: [UInt8] {
        var out = isComplete ? Self.completeMagic : Self.partialMagic
        for field in [version, dataLength, wasRunning ? 1 : 0, format.rawValue, cookieOffset] {
            withUnsafeBytes(of: field) { out += $0 }
        }
        out += [UInt8](repeating: 0, count: Self.size - out.count)
        return out
    }

    /// The header in `bytes` (at least 92), or libvirt's reason it is not one.
    init(decoding bytes: [UInt8]) throws(RemoteError) {
        guard bytes.count >= Self.size else { throw Self.failure("failed to read qemu header") }
        let magic = Array(bytes[0..<16])
        if magic == Self.partialMagic { throw Self.failure("save image is incomplete") }
        guard magic == Self.completeMagic else { throw Self.failure("image magic is incorrect") }
        func field(_ index: Int, swapped: Bool) -> UInt32 {
            let offset = 16 + index * 4
            let value = bytes[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            return swapped ? value.byteSwapped : value
        }
        var swapped = false
        if field(0, swapped: false) > Self.currentVersion { swapped = true }
        version = field(0, swapped: swapped)
        guard version <= Self.currentVersion else {
            throw Self.failure("image version is not supported (\(Int32(bitPattern: version)) > \(Self.currentVersion))")
        }
        dataLength = field(1, swapped: swapped)
        let signedLength = Int32(bitPattern: dataLength)
        guard signedLength > 0, Int(signedLength) <= Self.maximumDataLength else {
            throw Self.failure("invalid header data length: \(signedLength)")
        }
        wasRunning = field(2, swapped: swapped) != 0
        let formatNumber = field(3, swapped: swapped)
        // Version 1 images had no compression field worth reading.
        guard version < 2 || Format(rawValue: formatNumber) != nil else {
            throw Self.failure("Invalid compressed save format \(Int32(bitPattern: formatNumber))")
        }
        format = version < 2 ? .raw : Format(rawValue: formatNumber) ?? .raw
        cookieOffset = field(4, swapped: swapped)
        guard cookieOffset < dataLength else { throw Self.failure("invalid header data length: \(signedLength)") }
        isComplete = true
    }

    init(isComplete: Bool, dataLength: UInt32, wasRunning: Bool, format: Format = .raw, cookieOffset: UInt32 = 0) {
        self.isComplete = isComplete
        self.dataLength = dataLength
        self.wasRunning = wasRunning
        self.format = format
        self.cookieOffset = cookieOffset
    }

    static func failure(_ message: String) -> RemoteError {
        RemoteError(code: .operationFailed, domain: .qemu, detail: message)
    }
}

/// The data after the header: the domain XML (NUL-terminated), an optional cookie, and zeros.
struct SaveImageData: Equatable, Sendable {
    var xml: String
    var cookie: String?

    /// The XML and cookie in `data` (the `dataLength` bytes after `header`).
    init(decoding data: [UInt8], header: SaveImageHeader) throws(RemoteError) {
        guard data.count == Int(header.dataLength) else { throw SaveImageHeader.failure("failed to read domain XML") }
        let xmlEnd = header.cookieOffset == 0 ? data.count : Int(header.cookieOffset)
        let xmlBytes = data[..<xmlEnd]
        xml = String(decoding: xmlBytes.prefix { $0 != 0 }, as: UTF8.self)
        guard !xml.isEmpty else { throw SaveImageHeader.failure("failed to read domain XML") }
        if header.cookieOffset != 0 {
            let cookieBytes = data[xmlEnd...].prefix { $0 != 0 }
            cookie = cookieBytes.isEmpty ? nil : String(decoding: cookieBytes, as: UTF8.self)
        }
    }

    init(xml: String, cookie: String? = nil) {
        self.xml = xml
        self.cookie = cookie
    }

    /// The XML and cookie, each NUL-terminated, padded with zeros to `length` bytes (libvirt's
    /// 64 KiB of room when `length` is nil); `nil` when they do not fit `length` (an image's
    /// XML being replaced in place).
    func bytes(length: Int? = nil) -> (data: [UInt8], cookieOffset: UInt32)? {
        var out = Array(xml.utf8) + [0]
        let cookieOffset = cookie == nil ? 0 : UInt32(out.count)
        if let cookie { out += Array(cookie.utf8) + [0] }
        let total = length ?? out.count + SaveImageHeader.padding
        guard out.count <= total, total <= SaveImageHeader.maximumDataLength else { return nil }
        out += [UInt8](repeating: 0, count: total - out.count)
        return (out, cookieOffset)
    }
}

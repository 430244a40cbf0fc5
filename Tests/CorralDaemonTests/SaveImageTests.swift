@testable import CorralDaemon
import CorralProtocol
import Foundation
import Testing

/// libvirt's save image header and data, byte by byte.
@Suite("Save image format")
struct SaveImageTests {
    /// A header as libvirt 9.0 writes it on x86_64 (little-endian): the values of an image
    /// libvirtd saved here, with a cookie.
    static let libvirtHeader: [UInt8] = Array("LibvirtQemudSave".utf8)
        + [2, 0, 0, 0] + [0xFE, 0x08, 0x01, 0x00] + [1, 0, 0, 0] + [0, 0, 0, 0] + [0x12, 0x08, 0, 0] + [UInt8](repeating: 0, count: 56)

    @Test("libvirt's header reads as its fields; ours writes the same bytes")
    func libvirtLayout() throws {
        let header = try SaveImageHeader(decoding: Self.libvirtHeader)
        #expect(header.isComplete && header.version == 2 && header.dataLength == 0x108FE && header.wasRunning)
        #expect(header.format == .raw && header.cookieOffset == 0x812 && header.streamOffset == 92 + 0x108FE)
        #expect(header.bytes == Self.libvirtHeader)
        var partial = header
        partial.isComplete = false
        #expect(Array(partial.bytes[0..<16]) == Array("LibvirtQemudPart".utf8) && partial.bytes.count == 92)
    }

    @Test("a header written in the other byte order is read by swapping, as libvirt does")
    func swapped() throws {
        var bytes = Self.libvirtHeader
        for field in 0..<5 { bytes[16 + field * 4..<20 + field * 4].reverse() }
        let header = try SaveImageHeader(decoding: bytes)
        #expect(header.version == 2 && header.dataLength == 0x108FE && header.cookieOffset == 0x812)
    }

    /// `libvirtHeader` with the bytes at `offset` replaced.
    static func patched(_ offset: Int, _ bytes: [UInt8]) -> [UInt8] {
        var header = libvirtHeader
        header.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        return header
    }

    static let brokenHeaders: [([UInt8], String)] = [
        (patched(0, Array("LibvirtQemudPart".utf8)), "save image is incomplete"),
        ([UInt8](repeating: 0, count: 92), "image magic is incorrect"),
        (Array(libvirtHeader[0..<50]), "failed to read qemu header"),
        (patched(20, [0xFF, 0xFF, 0xFF, 0x7F]), "invalid header data length: 2147483647"),
        (patched(20, [0, 0, 0, 0]), "invalid header data length: 0"),
        (patched(20, [0, 0, 0, 0x80]), "invalid header data length: -2147483648"),
        (patched(28, [9, 0, 0, 0]), "Invalid compressed save format 9"),
        (patched(16, [3, 0, 0, 0]), "image version is not supported (50331648 > 2)"),
    ]

    @Test("broken headers get libvirt's messages", arguments: brokenHeaders)
    func refusals(bytes: [UInt8], message: String) {
        #expect {
            _ = try SaveImageHeader(decoding: bytes)
        } throws: { error in
            (error as? RemoteError)?.str2 == message && (error as? RemoteError)?.code == .operationFailed
        }
    }

    @Test("the data is the XML, the cookie and libvirt's 64 KiB of room; a replacement must fit it")
    func data() throws {
        let data = SaveImageData(xml: "<domain/>", cookie: "<cookie/>")
        let (bytes, cookieOffset) = try #require(data.bytes())
        #expect(bytes.count == 10 + 10 + 65_536 && cookieOffset == 10)
        let header = SaveImageHeader(isComplete: true, dataLength: UInt32(bytes.count), wasRunning: false, cookieOffset: cookieOffset)
        #expect(try SaveImageData(decoding: bytes, header: header) == data)
        // Without a cookie the XML runs to the first NUL.
        let plain = try #require(SaveImageData(xml: "<domain/>").bytes())
        #expect(try SaveImageData(decoding: plain.data, header: SaveImageHeader(isComplete: true, dataLength: UInt32(plain.data.count), wasRunning: true)).xml == "<domain/>")
        #expect(SaveImageData(xml: String(repeating: "x", count: 100)).bytes(length: 50) == nil)
        #expect(SaveImageData(xml: "<domain/>").bytes(length: 50)?.data.count == 50)
    }

    @Test("an image file is written incomplete, finished, read back, and its XML replaced in place")
    func file() throws {
        let path = NSTemporaryDirectory() + "corral-save-image-\(getpid()).img"
        defer { unlink(path) }
        let target = try SaveImageFile.create(path, data: SaveImageData(xml: "<domain><name>a</name></domain>"), wasRunning: true)
        // QEMU's stream goes on from where the descriptor stands.
        let stream = Array("STREAM".utf8)
        #expect(write(target.descriptor, stream, stream.count) == stream.count)
        close(target.descriptor)
        #expect {
            _ = try SaveImageFile.read(path)
        } throws: { ($0 as? RemoteError)?.str2 == "save image is incomplete" }
        try SaveImageFile.finish(path, header: target.header, durable: true)
        let (header, data, _) = try SaveImageFile.read(path)
        #expect(header.isComplete && header.wasRunning && data.xml == "<domain><name>a</name></domain>")
        try SaveImageFile.replaceXML(path, with: "<domain><name>a</name><title>t</title></domain>", wasRunning: false)
        let (replacedHeader, replaced, _) = try SaveImageFile.read(path)
        #expect(!replacedHeader.wasRunning && replaced.xml.contains("<title>t</title>") && replacedHeader.dataLength == header.dataLength)
        let contents = try #require(FileManager.default.contents(atPath: path))
        #expect(Array(contents.suffix(6)) == stream && contents.count == header.streamOffset + 6)
    }
}

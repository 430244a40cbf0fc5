@testable import CorralDaemon
import CorralProtocol
import DomainXML
import Foundation
import Testing

/// The walk down a disk's backing chain from its images' headers, with headers made here and
/// read through a stand-in reader (the image itself is a real empty file: its presence is
/// checked on the filesystem). Real images and libvirtd's answers: `test_backing_chains.py`.
@Suite("Backing chains from image headers")
struct BackingChainCheckTests {
    /// A qcow2 (version 3) header naming `backing`, with its format recorded when given.
    static func qcow2(backing: String?, format: String? = nil) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 1024)
        func put(_ value: UInt64, at offset: Int, width: Int) {
            for index in 0..<width { bytes[offset + index] = UInt8((value >> (8 * UInt64(width - 1 - index))) & 0xFF) }
        }
        put(0x5146_49FB, at: 0, width: 4)
        put(3, at: 4, width: 4)
        put(16, at: 20, width: 4)
        put(1 << 20, at: 24, width: 8)
        put(104, at: 100, width: 4)
        if let backing {
            put(512, at: 8, width: 8)
            put(UInt64(backing.utf8.count), at: 16, width: 4)
            bytes.replaceSubrange(512..<(512 + backing.utf8.count), with: Array(backing.utf8))
        }
        if let format {
            put(0xE279_2ACA, at: 104, width: 4)
            put(UInt64(format.utf8.count), at: 108, width: 4)
            bytes.replaceSubrange(112..<(112 + format.utf8.count), with: Array(format.utf8))
        }
        return bytes
    }

    /// A disk whose image is a real (empty) file in a scratch directory; `headers` by path.
    static func check(_ headers: [String: [UInt8]], image name: String = "top.qcow2") throws(RemoteError) -> (BackingChainCheck.Detected?, String) {
        // A directory of its own per check: the suite's tests run at once.
        let directory = NSTemporaryDirectory() + "backing-chain-check-\(getpid())-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let image = directory + "/" + name
        FileManager.default.createFile(atPath: image, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let xml = "<domain type='qemu'><name>c</name><memory>65536</memory><os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
            + "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='\(image)'/><target dev='vda' bus='virtio'/></disk></devices></domain>"
        let disk = try! DomainXMLParser.parse(xml).definition.devices.disks[0]
        let read: BackingChainCheck.HeaderReader = { path in
            let relative = String(path.dropFirst(directory.count + 1))
            return headers[path == image ? "top" : relative].map { .success($0) } ?? .failure(.init(code: ENOENT))
        }
        return (try BackingChainCheck.check(disk, read: read), directory)
    }

    @Test("recorded formats: the layers found, a relative name against its image's directory, and the end")
    func recordedFormats() throws {
        let (found, directory) = try Self.check(["top": Self.qcow2(backing: "middle.qcow2", format: "qcow2"), "middle.qcow2": Self.qcow2(backing: "base.img", format: "raw")])
        let layers = try #require(found).layers
        #expect(layers.map(\.path) == [directory + "/middle.qcow2", directory + "/base.img"])
        #expect(layers.map(\.format) == ["qcow2", "raw"])
        #expect(layers.allSatisfy(\.detected) && found?.ends == true)
    }

    @Test("no format recorded: a probe without a backing file is trusted, one with is refused in libvirt's words")
    func unrecordedFormats() throws {
        let (raw, _) = try Self.check(["top": Self.qcow2(backing: "plain.img"), "plain.img": [UInt8](repeating: 0, count: 4096)])
        #expect(raw?.layers.map(\.format) == ["raw"])
        do {
            _ = try Self.check(["top": Self.qcow2(backing: "disguised.img"), "disguised.img": Self.qcow2(backing: "/etc/shadow", format: "raw")])
            Issue.record("a probed backing file with a backing file of its own was accepted")
        } catch {
            #expect(error.code == .operationInvalid && (error.str2 ?? "").hasPrefix("format of backing image 'disguised.img' of image '"))
        }
    }

    @Test("a loop stops after 200 images; a missing backing file and a URI end the walk as libvirt does")
    func loopsMissingFilesAndURIs() throws {
        do {
            _ = try Self.check(["top": Self.qcow2(backing: "a.qcow2", format: "qcow2"), "a.qcow2": Self.qcow2(backing: "b.qcow2", format: "qcow2"), "b.qcow2": Self.qcow2(backing: "a.qcow2", format: "qcow2")])
            Issue.record("a loop was accepted")
        } catch {
            #expect(error.code == .internalError && (error.str2 ?? "").hasSuffix("is self-referential or too deeply nested"))
        }
        do {
            _ = try Self.check(["top": Self.qcow2(backing: "gone.qcow2", format: "qcow2")])
            Issue.record("a missing backing file was accepted")
        } catch {
            #expect(error.code == .systemError && (error.str2 ?? "").contains("Cannot access backing file '") && (error.str2 ?? "").hasSuffix("No such file or directory"))
        }
        let (uri, _) = try Self.check(["top": Self.qcow2(backing: "nbd://server/export", format: "raw")])
        #expect(uri?.layers.isEmpty == true && uri?.ends == false)
    }
}

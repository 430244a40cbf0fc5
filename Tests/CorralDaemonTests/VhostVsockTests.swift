@testable import CorralDaemon
import DomainXML
import Foundation
import Testing

/// Setting up a guest's vsock: libvirt's messages when the host has no vhost-vsock device, or
/// the device refuses the context ID.
@Suite("vhost-vsock")
struct VhostVsockTests {
    static func vsock(_ inner: String) throws -> DomainDefinition.Vsock {
        let xml = "<domain type='qemu'><name>v</name><memory>65536</memory><os><type>hvm</type></os><devices><vsock model='virtio'>\(inner)</vsock></devices></domain>"
        return try #require(try DomainXMLParser.parse(xml).definition.devices.vsock)
    }

    static func failure(_ vsock: DomainDefinition.Vsock, device: String) -> String? {
        do {
            let acquired = try VhostVsock.acquire(vsock, device: device)
            close(acquired.descriptor)
            return nil
        } catch {
            return error.message
        }
    }

    @Test("no device: libvirt's refusal; a device that is no vhost-vsock refuses the context ID")
    func refusals() throws {
        let automatic = try Self.vsock("")
        #expect(automatic.autoCID && automatic.cid == nil)
        #expect(Self.failure(automatic, device: "/nonexistent/vhost-vsock") == "unable to open vhost-vsock device")
        let fixed = try Self.vsock("<cid address='7'/>")
        #expect(!fixed.autoCID && fixed.cid == 7)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("not-vhost-vsock-\(UUID().uuidString.prefix(8))").path
        try Data().write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        for vsock in [automatic, fixed] {
            #expect(Self.failure(vsock, device: file)?.hasPrefix("failed to set guest cid: ") == true)
        }
    }
}

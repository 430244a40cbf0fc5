import CorralClient
import CorralProtocol
import Foundation
import Testing

/// CorralClient against a real libvirtd: the anchor Corral must interoperate with.
@Suite("CorralClient against libvirtd", .serialized)
struct LibvirtdClientTests {
    @Test("CorralClient opens libvirtd, reads its facts, and lists the same domains virsh does")
    func againstLibvirtd() async throws {
        let started = try TestLibvirtd.start()
        defer { TestLibvirtd.stop(started: started) }
        // Make sure there is something to list: a defined (never started) domain.
        let name = "corral-client-test-\(UUID().uuidString.prefix(6))"
        let xml = "<domain type='qemu'><name>\(name)</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).xml").path
        try xml.write(toFile: file, atomically: true, encoding: .utf8)
        try #require(try runProgram("/usr/bin/virsh", ["-c", "qemu:///system", "define", file]).status == 0)
        defer { _ = try? runProgram("/usr/bin/virsh", ["-c", "qemu:///system", "undefine", name]) }

        try await CorralConnection.withConnection(to: "qemu:///system", keepalive: KeepaliveConfiguration()) { connection in
            let value1 = try await connection.hypervisorType()
            #expect(value1 == "QEMU")
            let value2 = try await connection.hypervisorVersion()
            #expect(value2 > 7_000_000)
            let value3 = try await connection.libraryVersion()
            #expect(value3 >= 9_000_000)
            let hostname = try await connection.hostname()
            #expect(!hostname.isEmpty)
            let capabilities = try await connection.capabilities()
            #expect(capabilities.contains("<capabilities>"))
            let names = try await connection.listAllDomains(flags: 3).map(\.name).sorted()
            let virsh = try runProgram("/usr/bin/virsh", ["-c", "qemu:///system", "list", "--all", "--name"]).output
                .split(separator: "\n").map(String.init).filter { !$0.isEmpty }.sorted()
            #expect(names == virsh)
            #expect(names.contains(name))
        }
        try await CorralConnection.withConnection(to: "qemu:///system", readOnly: true) { connection in
            let names = try await connection.listAllDomains(flags: 3).map(\.name)
            #expect(names.contains(name))
        }
    }
}

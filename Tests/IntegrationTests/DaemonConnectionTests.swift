import CorralClient
import CorralProtocol
import Foundation
import NIOCore
import Testing
import XDR

@Suite("CorralClient against corrald", .serialized)
struct DaemonConnectionTests {
    @Test("type, version, hostname, capabilities, node info and the domain list are the host's truth")
    func hostFacts() async throws {
        let daemon = try DaemonUnderTest()
        defer { daemon.stop() }
        try await CorralConnection.withConnection(to: daemon.uri) { connection in
            let value1 = try await connection.hypervisorType()
            #expect(value1 == "QEMU")
            let qemu = try runProgram("/usr/bin/qemu-system-x86_64", ["--version"]).output
            let version = try await connection.hypervisorVersion()
            let text = "\(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)"
            #expect(qemu.hasPrefix("QEMU emulator version \(text)"), "daemon says \(text), QEMU says \(qemu)")
            var name = [CChar](repeating: 0, count: 256)
            gethostname(&name, 255)
            let hostname = try await connection.hostname()
            #expect(hostname == String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            let capabilities = try await connection.capabilities()
            #expect(capabilities.contains("<arch name='x86_64'>"))
            #expect(capabilities.contains("pc-q35-"))
            #expect(capabilities.contains("<emulator>/usr/bin/qemu-system-x86_64</emulator>"))
            // Live migration over TCP, as libvirtd advertises it.
            #expect(capabilities.contains("<migration_features>\n      <live/>\n      <uri_transports>\n        <uri_transport>tcp</uri_transport>"))
            let info = try await connection.nodeInfo()
            #expect(info.cpus == ProcessInfo.processInfo.activeProcessorCount)
            #expect(info.memoryKiB > 0 && info.memoryKiB * 1024 <= ProcessInfo.processInfo.physicalMemory + 1024)
            let value2 = try await connection.listAllDomains(flags: 3)
            #expect(value2.isEmpty)
            let value3 = try await connection.libraryVersion()
            #expect(value3 == 9_000_000)
            #expect(connection.supportsKeepalive)
        }
    }

    @Test("a read-only connection can look")
    func readOnly() async throws {
        let daemon = try DaemonUnderTest()
        defer { daemon.stop() }
        try await CorralConnection.withConnection(to: daemon.readOnlyURI, readOnly: true) { connection in
            let value4 = try await connection.hypervisorType()
            #expect(value4 == "QEMU")
            let value5 = try await connection.listAllDomains()
            #expect(value5.isEmpty)
        }
    }

    @Test("the sockets have tight permissions")
    func socketPermissions() throws {
        let daemon = try DaemonUnderTest()
        defer { daemon.stop() }
        let rw = try FileManager.default.attributesOfItem(atPath: daemon.socket)[.posixPermissions] as? Int
        let ro = try FileManager.default.attributesOfItem(atPath: daemon.readOnlySocket)[.posixPermissions] as? Int
        #expect(rw == 0o600)
        #expect(ro == 0o666)
    }

    @Test("many calls in flight on one connection, and many connections at once")
    func concurrency() async throws {
        let daemon = try DaemonUnderTest()
        defer { daemon.stop() }
        let uri = daemon.uri
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    try await CorralConnection.withConnection(to: uri) { connection in
                        try await withThrowingTaskGroup(of: String.self) { calls in
                            for _ in 0..<50 { calls.addTask { try await connection.hostname() } }
                            var count = 0
                            for try await name in calls where !name.isEmpty { count += 1 }
                            return count
                        }
                    }
                }
            }
            var total = 0
            for try await count in group { total += count }
            #expect(total == 16 * 50)
        }
    }

    @Test("unknown procedures get libvirt's error and the connection keeps working")
    func unknownProcedure() async throws {
        enum Bogus: RPCProcedure {
            typealias Arguments = XDRVoid
            typealias Reply = XDRVoid
            static let program = RPCProgram.remote
            static let procedure: Int32 = 4242
        }
        let daemon = try DaemonUnderTest()
        defer { daemon.stop() }
        try await CorralConnection.withConnection(to: daemon.uri) { connection in
            do {
                _ = try await connection.call(Bogus.self)
                Issue.record("an unknown procedure must fail")
            } catch let error as CorralClientError {
                #expect(error.remote?.code == .rpc)
                #expect(error.remote?.message == "unknown procedure: 4242")
                #expect(error.isNotSupported)
            }
            let value6 = try await connection.hypervisorType()
            #expect(value6 == "QEMU")
        }
    }

    @Test("garbage, a truncated packet and a 1 GiB claim from some clients leave the others served")
    func hostileClients() async throws {
        let daemon = try DaemonUnderTest()
        defer { daemon.stop() }
        let good = try await CorralConnection.connect(to: daemon.uri)

        let garbage = try RawSocket(path: daemon.socket)
        garbage.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(garbage.peerClosed(), "a bad length closes that connection")

        let huge = try RawSocket(path: daemon.socket)
        huge.send([0x40, 0, 0, 0])  // 1 GiB
        #expect(huge.peerClosed())

        let truncated = try RawSocket(path: daemon.socket)
        truncated.send([0, 0, 0, 0x1C, 0x20, 0, 0x80])  // a header that never finishes; the client stalls

        let silent = try RawSocket(path: daemon.socket)  // connects and never reads or writes
        _ = silent

        let stillServed = try await good.hostname()
        #expect(!stillServed.isEmpty)
        let fresh = try await CorralConnection.connect(to: daemon.uri)
        let value7 = try await fresh.hypervisorType()
        #expect(value7 == "QEMU")
        await fresh.close()
        await good.close()
        _ = truncated
    }

    @Test("calls before CONNECT_OPEN are refused and a second open is an error")
    func openRules() throws {
        let daemon = try DaemonUnderTest()
        defer { daemon.stop() }
        let socket = try RawSocket(path: daemon.socket)
        var buffer = ByteBuffer()
        buffer.writeRPCPacket(header: RPCHeader(program: .remote, procedure: 59, type: .call, serial: 0))
        socket.send(Array(buffer.readableBytesView))
        var reply = ByteBuffer(bytes: socket.receive(count: 4))
        let length = Int(reply.readInteger(as: UInt32.self) ?? 0)
        reply.writeBytes(socket.receive(count: length - 4))
        var decoder = RPCFrameDecoder()
        var whole = ByteBuffer()
        whole.writeInteger(UInt32(length))
        whole.writeBuffer(&reply)
        let frame = try #require(try decoder.decode(buffer: &whole))
        #expect(frame.header.status == .error)
        #expect(frame.header.serial == 0 && frame.header.procedure == 59)
        let error = try RemoteError(xdrRecord: frame.body)
        #expect(error.message == "internal error: connection not open")
    }
}



import CorralProtocol
import NIOCore
import Testing
import XDR

@Suite("Wire types")
struct WireTypeTests {
    @Test("remote_error round-trips and carries libvirt's formatted message")
    func remoteError() throws {
        let error = RemoteError(code: .noDomain, domain: .qemu, detail: "no domain with matching name 'x'")
        #expect(error.message == "Domain not found: no domain with matching name 'x'")
        #expect(error.str1 == "Domain not found: %s")
        #expect(error.int1 == -1 && error.level == 2)
        let decoded = try RemoteError(xdrRecord: error.xdrEncoded())
        #expect(decoded == error)
    }

    @Test("the unknown-procedure error is code 39, domain 7, as clients expect")
    func unknownProcedure() {
        let error = RemoteError.unknownProcedure(9999)
        #expect(error.code.rawValue == 39 && error.domain.rawValue == 7)
        #expect(error.message == "unknown procedure: 9999")
    }

    @Test("NODE_GET_INFO's model is 32 chars of four bytes each")
    func nodeInfo() throws {
        let reply = Remote.NodeGetInfo.Reply(model: "x86_64", memory: 1024, cpus: 2, mhz: 2000, nodes: 1, sockets: 1, cores: 2, threads: 1)
        let buffer = reply.xdrEncoded()
        #expect(buffer.readableBytes == 32 * 4 + 8 + 6 * 4)
        #expect(Array(buffer.readableBytesView.prefix(8)) == [0, 0, 0, UInt8(ascii: "x"), 0, 0, 0, UInt8(ascii: "8")])
        #expect(try Remote.NodeGetInfo.Reply(xdrRecord: buffer) == reply)
    }

    @Test("security model strings include the trailing NUL, and empty ones are empty arrays")
    func charStrings() throws {
        let buffer = Remote.NodeGetSecurityModel.Reply(model: "none", doi: "").xdrEncoded()
        #expect(buffer.readableBytes == 4 + 5 * 4 + 4)
        #expect(try Remote.NodeGetSecurityModel.Reply(xdrRecord: buffer) == .init(model: "none", doi: ""))
    }

    @Test("UUIDs parse, print and encode as 16 raw bytes")
    func uuids() throws {
        let text = "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
        let uuid = try #require(RemoteUUID(text))
        #expect(uuid.description == text)
        #expect(RemoteUUID("c7a5fdbdcdaf9455926ad65c16db1809") == uuid)
        #expect(RemoteUUID("not-a-uuid") == nil)
        let buffer = uuid.xdrEncoded()
        #expect(Array(buffer.readableBytesView) == [0xC7, 0xA5, 0xFD, 0xBD, 0xCD, 0xAF, 0x94, 0x55, 0x92, 0x6A, 0xD6, 0x5C, 0x16, 0xDB, 0x18, 0x09])
        let random = RemoteUUID.random()
        #expect(random.description.count == 36)
        #expect(Array(random.description)[14] == "4")
    }

    @Test("a domain list round-trips and refuses more than 16384 entries")
    func domainList() throws {
        let domain = RemoteDomain(name: "alpha", uuid: RemoteUUID.random(), id: -1)
        let reply = Remote.ConnectListAllDomains.Reply(domains: [domain, domain], ret: 2)
        #expect(try Remote.ConnectListAllDomains.Reply(xdrRecord: reply.xdrEncoded()) == reply)
        var hostile = ByteBuffer()
        hostile.writeXDRUInt32(16_385)
        #expect(throws: XDRDecodingError.self) { try Remote.ConnectListAllDomains.Reply(xdrRecord: hostile) }
    }

    @Test("every generated REMOTE procedure is unique and has an access rule")
    func procedureTable() {
        let numbers = RemoteProcedure.allCases.map(\.rawValue)
        #expect(Set(numbers).count == numbers.count)
        #expect(RemoteProcedure.connectOpen.access == .beforeOpen)
        #expect(RemoteProcedure.authList.access == .beforeOpen)
        #expect(RemoteProcedure.connectGetHostname.access == .read)
    }
}

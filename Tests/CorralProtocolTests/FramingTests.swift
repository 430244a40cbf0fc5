import CorralProtocol
import NIOCore
import Testing
import XDR

@Suite("Packet framing and headers")
struct FramingTests {
    func hex(_ text: String) -> [UInt8] {
        let digits = Array(text.filter { !$0.isWhitespace })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0..<$0 + 2]), radix: 16)! }
    }

    @Test("an AUTH_LIST call is 28 bytes, byte for byte as libvirt sends it")
    func authListCall() {
        var buffer = ByteBuffer()
        let length = buffer.writeRPCPacket(header: RPCHeader(program: .remote, procedure: 66, type: .call, serial: 0))
        #expect(length == 28)
        #expect(Array(buffer.readableBytesView) == hex("0000001c 20008086 00000001 00000042 00000000 00000000 00000000"))
    }

    @Test("its reply carries one auth type, NONE")
    func authListReply() {
        var buffer = ByteBuffer()
        let call = RPCHeader(program: .remote, procedure: 66, type: .call, serial: 0)
        buffer.writeRPCPacket(header: call.reply(status: .ok), payload: Remote.AuthList.Reply(types: [0]))
        #expect(Array(buffer.readableBytesView) == hex("00000024 20008086 00000001 00000042 00000001 00000000 00000000 00000001 00000000"))
    }

    @Test("a keepalive PING is exactly the reference's 28 bytes")
    func ping() {
        var buffer = ByteBuffer()
        buffer.writeRPCPacket(header: RPCHeader(program: .keepalive, procedure: KeepaliveProcedure.ping.rawValue, type: .message, serial: 0))
        #expect(Array(buffer.readableBytesView) == hex("0000001c 6b656570 00000001 00000001 00000002 00000000 00000000"))
    }

    @Test("CONNECT_OPEN for qemu:///system encodes to a 56-byte packet")
    func connectOpen() {
        var buffer = ByteBuffer()
        let length = buffer.writeRPCPacket(
            header: RPCHeader(program: .remote, procedure: 1, type: .call, serial: 2),
            payload: Remote.ConnectOpen.Arguments(name: "qemu:///system", flags: 0)
        )
        #expect(length == 56)
        #expect(Array(buffer.readableBytesView.suffix(28)) == hex("00000001 0000000e") + Array("qemu:///system".utf8) + [0, 0] + [0, 0, 0, 0])
    }

    @Test("the decoder waits for whole packets, however the bytes are split")
    func partialReads() throws {
        var whole = ByteBuffer()
        whole.writeRPCPacket(header: RPCHeader(program: .remote, procedure: 59, type: .call, serial: 7))
        whole.writeRPCPacket(header: RPCHeader(program: .remote, procedure: 3, type: .call, serial: 8), payload: Remote.ConnectGetType.Reply(type: "QEMU"))
        let bytes = Array(whole.readableBytesView)
        for split in 0...bytes.count {
            var decoder = RPCFrameDecoder()
            var buffer = ByteBuffer(bytes: bytes[0..<split])
            var frames: [RPCFrame] = []
            while let frame = try decoder.decode(buffer: &buffer) { frames.append(frame) }
            buffer.writeBytes(bytes[split...])
            while let frame = try decoder.decode(buffer: &buffer) { frames.append(frame) }
            #expect(frames.map(\.header.serial) == [7, 8])
            #expect(try Remote.ConnectGetType.Reply(xdrRecord: frames[1].body).type == "QEMU")
        }
    }

    @Test("a packet claiming 1 GiB is refused from its length word alone")
    func oversized() {
        var decoder = RPCFrameDecoder()
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(1 << 30))
        #expect(throws: RPCFramingError.self) { try decoder.decode(buffer: &buffer) }
    }

    @Test("the limit is libvirt's: 4 + 32 MiB", arguments: [(RPCLimits.packetMaximum, true), (RPCLimits.packetMaximum + 1, false)])
    func limit(length: Int, accepted: Bool) {
        var decoder = RPCFrameDecoder()
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(length))
        if accepted {
            #expect((try? decoder.decode(buffer: &buffer)) == .some(nil))  // waits for the rest
        } else {
            #expect(throws: RPCFramingError.self) { try decoder.decode(buffer: &buffer) }
        }
    }

    @Test("lengths shorter than a header are refused", arguments: [0, 3, 4, 27])
    func tooShort(length: UInt32) {
        var decoder = RPCFrameDecoder()
        var buffer = ByteBuffer()
        buffer.writeInteger(length)
        buffer.writeRepeatingByte(0, count: 40)
        #expect(throws: RPCFramingError.self) { try decoder.decode(buffer: &buffer) }
    }

    @Test("a header with an unknown message type is a framing error")
    func badType() {
        var decoder = RPCFrameDecoder()
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(28))
        for word: UInt32 in [0x2000_8086, 1, 1, 99, 0, 0] { buffer.writeInteger(word) }
        #expect(throws: RPCFramingError.self) { try decoder.decode(buffer: &buffer) }
    }
}

import CorralProtocol
import NIOCore
import NIOEmbedded
import Testing

@Suite("frame assembler")
struct FrameAssemblerTests {
    /// Packets of many sizes, the larger ones stream-sized.
    static func packets(_ sizes: [Int] = [0, 1, 100, 4093, 262_120, 17, 262_120, 3]) -> [ByteBuffer] {
        sizes.enumerated().map { index, size in
            var packet = ByteBuffer()
            packet.writeRPCPacket(header: RPCHeader(program: .remote, procedure: 209, type: .stream, serial: UInt32(index), status: .continue)) {
                $0.writeBytes((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
            }
            return packet
        }
    }

    @Test("packets cut at any points come out whole and in order", arguments: [
        (1, [0, 1, 100, 3]), (3, [5, 0, 40]), (5, [0, 1, 100, 4093, 3]), (4093, Array([0, 1, 100, 4093, 262_120, 17, 262_120, 3])),
        (65_536, [0, 1, 100, 4093, 262_120, 17, 262_120, 3]), (300_000, [0, 1, 100, 4093, 262_120, 17, 262_120, 3]),
        (1 << 20, [0, 1, 100, 4093, 262_120, 17, 262_120, 3]),
    ])
    func anyCuts(cut: Int, sizes: [Int]) throws {
        let channel = EmbeddedChannel(handler: RPCFrameAssembler())
        var all = ByteBuffer()
        for packet in Self.packets(sizes) { all.writeImmutableBuffer(packet) }
        while all.readableBytes > 0 {
            try channel.writeInbound(all.readSlice(length: min(cut, all.readableBytes))!)
        }
        for (index, packet) in Self.packets(sizes).enumerated() {
            let frame = try #require(try channel.readInbound(as: RPCFrame.self))
            #expect(frame.header.serial == UInt32(index))
            #expect(frame.body == packet.getSlice(at: 28, length: packet.readableBytes - 28))
        }
        #expect(try channel.readInbound(as: RPCFrame.self) == nil)
        _ = try channel.finish()
    }

    @Test("a length beyond the maximum is refused as soon as its word arrives, split or not", arguments: [1, 2, 4])
    func hugeLength(cut: Int) throws {
        let channel = EmbeddedChannel(handler: RPCFrameAssembler(maximumPacketLength: 1 << 20))
        var bytes = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 0])
        var caught: (any Error)?
        while bytes.readableBytes > 0 {
            do {
                try channel.writeInbound(bytes.readSlice(length: min(cut, bytes.readableBytes))!)
            } catch {
                caught = error
                break
            }
        }
        #expect(caught is RPCFramingError)
        _ = try? channel.finish()
    }
}

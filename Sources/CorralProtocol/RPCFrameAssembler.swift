public import NIOCore

/// Splits the bytes of a connection into ``RPCFrame``s without copying whole packets.
///
/// NIO's `ByteToMessageHandler` keeps one buffer of everything received; frames sliced from it
/// share its storage, so each time it compacts (every read, under a steady stream of 256 KiB data
/// packets) it copies itself whole. Here packets that arrive whole in one read are slices of that
/// read's buffer (no copy); only a packet split across reads is gathered, once, into a buffer of
/// exactly its length. Lengths are checked by ``RPCFrameDecoder`` as soon as the length word is
/// in, before anything of the packet is kept.
public final class RPCFrameAssembler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = RPCFrame

    private var decoder: RPCFrameDecoder
    /// The start of a packet whose end has not arrived yet.
    private var partial: ByteBuffer?
    /// After a framing error nothing more is read (the connection is closing).
    private var failed = false

    /// Creates an assembler that refuses packets longer than `maximumPacketLength`.
    public init(maximumPacketLength: Int = RPCLimits.packetMaximum) {
        decoder = RPCFrameDecoder(maximumPacketLength: maximumPacketLength)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var input = unwrapInboundIn(data)
        do {
            if var gathered = partial {
                partial = nil
                if let frame = try complete(&gathered, from: &input, allocator: context.channel.allocator) {
                    context.fireChannelRead(wrapInboundOut(frame))
                } else {
                    partial = gathered
                    return
                }
            }
            while let frame = try decoder.decode(buffer: &input) {
                context.fireChannelRead(wrapInboundOut(frame))
            }
            if input.readableBytes > 0 {
                // The start of a packet: keep it in a buffer of its own, sized to the packet
                // when its length is known.
                let length = input.getInteger(at: input.readerIndex, endianness: .big, as: UInt32.self).map { Int($0) } ?? 0
                var gathered = context.channel.allocator.buffer(capacity: max(length, input.readableBytes))
                gathered.writeBuffer(&input)
                partial = gathered
            }
        } catch {
            failed = true
            partial = nil
            context.fireErrorCaught(error)
        }
    }

    /// Adds from `input` what the gathered packet still misses; returns the frame once whole.
    private func complete(_ gathered: inout ByteBuffer, from input: inout ByteBuffer, allocator: ByteBufferAllocator) throws -> RPCFrame? {
        let lengthWord = RPCLimits.lengthWordSize
        if gathered.readableBytes < lengthWord {
            let missing = min(lengthWord - gathered.readableBytes, input.readableBytes)
            gathered.writeImmutableBuffer(input.readSlice(length: missing)!)
            guard gathered.readableBytes == lengthWord else { return nil }
        }
        // The length word is in: the decoder checks it (and throws for a bad one) before more
        // of the packet is kept.
        let length = Int(gathered.getInteger(at: gathered.readerIndex, endianness: .big, as: UInt32.self)!)
        if let frame = try decoder.decode(buffer: &gathered) { return frame }
        if gathered.capacity < length {
            var sized = allocator.buffer(capacity: length)
            sized.writeBuffer(&gathered)
            gathered = sized
        }
        let take = min(length - gathered.readableBytes, input.readableBytes)
        gathered.writeImmutableBuffer(input.readSlice(length: take)!)
        return try decoder.decode(buffer: &gathered)
    }
}

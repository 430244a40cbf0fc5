import CorralProtocol
import NIOCore
import XDR

/// The open streams of one connection. Lives on the connection's event loop: the channel
/// handler opens streams and hands it every stream packet; each stream's transfer runs in a task
/// that talks to its ``StreamEndpoint`` and writes packets to the channel.
///
/// Flow control is libvirt's: a data packet from the client holds one of the connection's
/// request slots until the endpoint has taken it, so a client that sends faster than the disk
/// writes stops being read; data to the client is written one packet at a time, the next
/// only once the previous has left (so a client that does not read stops the reading).
final class ConnectionStreams {
    /// A stream's identity: the program, procedure and serial of the call that opened it.
    struct Key: Hashable, Sendable {
        var program: UInt32
        var procedure: Int32
        var serial: UInt32

        init(_ header: RPCHeader) {
            program = header.program
            procedure = header.procedure
            serial = header.serial
        }

        func header(type: RPCMessageType = .stream, status: RPCMessageStatus) -> RPCHeader {
            RPCHeader(program: program, procedure: procedure, type: type, serial: serial, status: status)
        }
    }

    /// What the sink task takes, in the order the client sent it.
    enum SinkInput: Sendable {
        case data(ByteBuffer, done: @Sendable () -> Void)
        case hole(UInt64, done: @Sendable () -> Void)
        case finish
        case abort(connectionClosed: Bool)
    }

    private final class ActiveStream {
        var machine: ServerStreamStateMachine
        let endpoint: any StreamEndpoint
        var sinkInput: SinkQueue<SinkInput>?
        var sourceTask: Task<Void, Never>?

        init(machine: ServerStreamStateMachine, endpoint: any StreamEndpoint) {
            self.machine = machine
            self.endpoint = endpoint
        }
    }

    /// libvirt's data chunk size (`VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX`).
    static let chunkSize = 262_120

    private let channel: any Channel
    private var streams: [Key: ActiveStream] = [:]

    init(channel: any Channel) {
        self.channel = channel
    }

    private var bound: NIOLoopBound<ConnectionStreams> { NIOLoopBound(self, eventLoop: channel.eventLoop) }

    /// Opens the stream of the call `header` (after its reply was written).
    func open(_ header: RPCHeader, endpoint: any StreamEndpoint) {
        let key = Key(header)
        let stream = ActiveStream(machine: ServerStreamStateMachine(direction: endpoint.direction, allowsHoles: endpoint.allowsHoles), endpoint: endpoint)
        streams[key] = stream
        if endpoint.direction.acceptsData {
            let inputs = SinkQueue<SinkInput>()
            stream.sinkInput = inputs
            let channel = self.channel
            let bound = self.bound
            Task { await StreamTransfer.runSink(key: key, endpoint: endpoint, inputs: inputs, channel: channel, streams: bound) }
        }
        if endpoint.direction.sendsData {
            let channel = self.channel
            let bound = self.bound
            stream.sourceTask = Task { await StreamTransfer.runSource(key: key, endpoint: endpoint, channel: channel, streams: bound) }
        }
    }

    /// A stream packet from the client. `takeSlot` reserves a request slot and returns the
    /// closure that frees it; it is called for data that the endpoint must take first.
    func packetReceived(_ frame: RPCFrame, takeSlot: () -> @Sendable () -> Void) {
        let key = Key(frame.header)
        guard let stream = streams[key] else { return }  // unknown or ended: dropped, as libvirtd does
        switch stream.machine.packetReceived(type: frame.header.type, status: frame.header.status, payloadLength: frame.body.readableBytes) {
        case .ignore:
            break
        case .deliverData:
            stream.sinkInput?.push(.data(frame.body, done: takeSlot()))
        case .deliverHole:
            var body = frame.body
            do throws(XDRDecodingError) {
                let length = try body.readXDRUInt64()
                _ = try body.readXDRUInt32()
                stream.sinkInput?.push(.hole(length, done: takeSlot()))
            } catch {
                fail(key, RemoteError(code: .rpc, domain: .rpc, detail: "Unable to decode stream hole: \(error)"))
            }
        case .finish:
            if let input = stream.sinkInput {
                // A stream both ways (a console) sends nothing more once the client finishes.
                stream.sourceTask?.cancel()
                input.push(.finish)
            } else {
                stream.sourceTask?.cancel()
                let endpoint = stream.endpoint
                let channel = self.channel
                let bound = self.bound
                Task { await StreamTransfer.finishTransfer(key: key, endpoint: endpoint, channel: channel, streams: bound) }
            }
        case .abort:
            if let input = stream.sinkInput {
                stream.sourceTask?.cancel()
                input.push(.abort(connectionClosed: false))
            } else {
                stream.sourceTask?.cancel()
                let endpoint = stream.endpoint
                let channel = self.channel
                let bound = self.bound
                Task { await StreamTransfer.abortSource(key: key, endpoint: endpoint, channel: channel, streams: bound) }
            }
        case .fail(let error):
            fail(key, error)
        }
    }

    /// Ends a stream with an error sent to the client, and undoes its transfer.
    func fail(_ key: Key, _ error: RemoteError) {
        guard let stream = streams.removeValue(forKey: key) else { return }
        Self.abandon(stream)
        StreamTransfer.send(channel, key.header(status: .error), error: error)
    }

    /// Stops a stream's transfer with nothing more sent to the client; the endpoint undoes
    /// what it can.
    private static func abandon(_ stream: ActiveStream) {
        stream.sourceTask?.cancel()
        if let input = stream.sinkInput {
            input.push(.abort(connectionClosed: true))
            input.finish()
        } else {
            let endpoint = stream.endpoint
            Task { await endpoint.abort() }
        }
    }

    func remove(_ key: Key) {
        guard let stream = streams.removeValue(forKey: key) else { return }
        stream.sourceTask?.cancel()
        stream.machine.closed()
        stream.sinkInput?.finish()
    }

    func sourceEnded(_ key: Key) {
        streams[key]?.machine.sourceEnded()
    }

    /// The connection closed: every stream is aborted (a half-written upload is undone).
    func connectionClosed() {
        for stream in streams.values { Self.abandon(stream) }
        streams.removeAll()
    }

    /// The sink failed (and was aborted): tell the client, forget the stream.
    func failAfterSink(_ key: Key, _ error: RemoteError) {
        guard streams[key] != nil else { return }
        StreamTransfer.send(channel, key.header(status: .error), error: error)
        remove(key)
    }
}

/// The transfers of ``ConnectionStreams``, run in tasks: they talk to the endpoint and write
/// packets; changes to the stream table go back to the event loop.
enum StreamTransfer {
    /// The client finished: the endpoint completes the transfer, the client hears whether it
    /// worked, and the stream is gone.
    static func finishTransfer(key: ConnectionStreams.Key, endpoint: any StreamEndpoint, channel: any Channel, streams: NIOLoopBound<ConnectionStreams>) async {
        do throws(RemoteError) {
            try await endpoint.finish()
            send(channel, key.header(status: .ok))
        } catch {
            send(channel, key.header(status: .error), error: error)
        }
        channel.eventLoop.execute { streams.value.remove(key) }
    }

    static func abortSource(key: ConnectionStreams.Key, endpoint: any StreamEndpoint, channel: any Channel, streams: NIOLoopBound<ConnectionStreams>) async {
        await endpoint.abort()
        send(channel, key.header(status: .ok))
        channel.eventLoop.execute { streams.value.remove(key) }
    }


    /// How many packets a source reads at once (1 MiB); twice that may be on their way.
    static let sourceWritesInFlight = 4

    static func runSource(key: ConnectionStreams.Key, endpoint: any StreamEndpoint, channel: any Channel, streams: NIOLoopBound<ConnectionStreams>) async {
        var writes: [EventLoopFuture<Void>] = []
        while !Task.isCancelled {
            var chunks: [StreamChunk]
            do throws(RemoteError) {
                chunks = try await endpoint.read(maximum: ConnectionStreams.chunkSize, count: sourceWritesInFlight)
            } catch {
                channel.eventLoop.execute { streams.value.fail(key, error) }
                return
            }
            if Task.isCancelled { return }
            for index in chunks.indices {
                switch chunks[index] {
                case .data(let bytes):
                    chunks[index] = .end  // the buffer's only reference is `bytes` now: the header goes in place
                    writes.append(channel.writeAndFlush(ByteBuffer.streamPacket(consume bytes, header: key.header(status: .continue), allocator: channel.allocator)))
                case .hole(let length):
                    var packet = channel.allocator.buffer(capacity: RPCLimits.headerSize + 16)
                    packet.writeRPCPacket(header: key.header(type: .streamHole, status: .continue)) {
                        $0.writeXDRUInt64(length)
                        $0.writeXDRUInt32(0)
                    }
                    writes.append(channel.writeAndFlush(packet))
                case .end:
                    for write in writes { _ = try? await write.get() }
                    send(channel, key.header(status: .continue))
                    channel.eventLoop.execute { streams.value.sourceEnded(key) }
                    return
                }
            }
            // A client that does not read stops the reading: at most a few batches wait.
            while writes.count > 2 * sourceWritesInFlight {
                do { try await writes.removeFirst().get() } catch { return }  // the connection is gone
            }
        }
    }

    static func runSink(key: ConnectionStreams.Key, endpoint: any StreamEndpoint, inputs: SinkQueue<ConnectionStreams.SinkInput>, channel: any Channel, streams: NIOLoopBound<ConnectionStreams>) async {
        var ended = false
        while let batch = await inputs.next() {
            var index = 0
            while index < batch.count {
                // Consecutive data packets go to the endpoint together.
                var data: [ByteBuffer] = []
                var done: [@Sendable () -> Void] = []
                while index < batch.count, case .data(let bytes, let release) = batch[index] {
                    data.append(bytes)
                    done.append(release)
                    index += 1
                }
                if !data.isEmpty {
                    if !ended {
                        do throws(RemoteError) {
                            try await endpoint.write(data)
                        } catch {
                            ended = true
                            await endpoint.abort()
                            channel.eventLoop.execute { streams.value.failAfterSink(key, error) }
                        }
                    }
                    for release in done { release() }
                    continue
                }
                let input = batch[index]
                index += 1
                switch input {
                case .data:
                    break  // taken above
                case .hole(let length, let release):
                    defer { release() }
                    guard !ended else { continue }
                    do throws(RemoteError) {
                        try await endpoint.writeHole(length)
                    } catch {
                        ended = true
                        await endpoint.abort()
                        channel.eventLoop.execute { streams.value.failAfterSink(key, error) }
                    }
                case .finish:
                    guard !ended else { continue }
                    ended = true
                    await finishTransfer(key: key, endpoint: endpoint, channel: channel, streams: streams)
                case .abort(let connectionClosed):
                    guard !ended else { continue }
                    ended = true
                    await endpoint.abort()
                    if !connectionClosed { send(channel, key.header(status: .ok)) }
                    channel.eventLoop.execute { streams.value.remove(key) }
                }
            }
        }
    }

    static func send(_ channel: any Channel, _ header: RPCHeader, error: RemoteError? = nil) {
        var packet = channel.allocator.buffer(capacity: 64)
        if let error {
            packet.writeRPCPacket(header: header, payload: error)
        } else {
            packet.writeRPCPacket(header: header)
        }
        channel.writeAndFlush(packet, promise: nil)
    }
}

import CorralProtocol
import NIOCore

/// A piece of stream data from the daemon's side.
enum StreamChunk: Sendable {
    /// Bytes.
    case data(ByteBuffer)
    /// A hole of this many bytes (sent only on streams that allow holes).
    case hole(UInt64)
    /// No more data.
    case end
}

/// What a stream-opening procedure attaches to its stream: where the daemon's data comes from
/// and where the client's goes. One implementation per kind (volume download, upload, console).
protocol StreamEndpoint: Sendable {
    /// Which way data flows.
    var direction: ServerStreamStateMachine.Direction { get }
    /// Whether holes may be sent either way.
    var allowsHoles: Bool { get }
    /// The next chunks to send to the client, each at most `maximum` bytes of data, at most
    /// `count` of them (at least one; sources only). Several at once save a hop to the threads
    /// that read; the end comes as the last chunk.
    func read(maximum: Int, count: Int) async throws(RemoteError) -> [StreamChunk]
    /// Takes data from the client (sinks only), several packets at once, in order.
    func write(_ data: [ByteBuffer]) async throws(RemoteError)
    /// Takes a hole from the client (sinks that allow holes).
    func writeHole(_ length: UInt64) async throws(RemoteError)
    /// The client finished: complete the transfer (for a sink, make the data durable).
    func finish() async throws(RemoteError)
    /// The transfer stops early (abort, error, or the connection closed): undo what it can.
    func abort() async
}

extension StreamEndpoint {
    func read(maximum: Int, count: Int) async throws(RemoteError) -> [StreamChunk] { [.end] }
    func write(_ data: [ByteBuffer]) async throws(RemoteError) {
        throw RemoteError(code: .rpc, domain: .rpc, detail: "stream does not accept data")
    }
    func writeHole(_ length: UInt64) async throws(RemoteError) {
        throw RemoteError(code: .rpc, domain: .rpc, detail: "Unexpected stream hole")
    }
}

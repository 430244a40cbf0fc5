import CorralProtocol
import NIOCore

/// `virsh console` and `DOMAIN_OPEN_CHANNEL`: a stream both ways between a client and a guest's
/// character device. The device's output goes to the client as it comes (read backpressure in
/// ``CharacterDeviceConnection``); the client's keystrokes go to the device.
final class ConsoleStream: StreamEndpoint {
    let direction = ServerStreamStateMachine.Direction.both
    let allowsHoles = false
    private let connection: CharacterDeviceConnection
    private let onEnd: @Sendable () -> Void

    /// `onEnd` runs when the client finishes or aborts the stream (or its connection closes).
    init(connection: CharacterDeviceConnection, onEnd: @escaping @Sendable () -> Void) {
        self.connection = connection
        self.onEnd = onEnd
    }

    func read(maximum: Int, count: Int) async throws(RemoteError) -> [StreamChunk] {
        let buffers = try await connection.read(maximum: maximum, count: count)
        return buffers.isEmpty ? [.end] : buffers.map { .data($0) }
    }

    func write(_ data: [ByteBuffer]) async throws(RemoteError) {
        try await connection.write(data)
    }

    func finish() async throws(RemoteError) {
        connection.close()
        onEnd()
    }

    func abort() async {
        connection.close()
        onEnd()
    }
}

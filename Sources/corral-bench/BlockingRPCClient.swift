import CorralProtocol
import Foundation
import POSIXSupport
import NIOCore
import XDR

/// A minimal blocking libvirt RPC client: one call at a time, a `write` and a `read` per call.
///
/// The benchmark uses it next to ``CorralClient`` to measure the daemons with as little client
/// overhead as possible: with the async client, most of a sequential call's time is spent in
/// the client itself, which hides the difference between the daemons.
final class BlockingRPCClient {
    private let fd: Int32
    private var serial: UInt32 = 0
    private var buffer = ByteBuffer()
    private var incoming = [UInt8](repeating: 0, count: 1 << 16)

    init(socketPath: String) throws {
        do throws(SystemError) {
            fd = try UnixSocket.connect(socketPath)
        } catch {
            throw BenchError(error.description)
        }
        _ = try call(Remote.AuthList.self, XDRVoid())
        _ = try call(Remote.ConnectOpen.self, .init(name: "qemu:///system", flags: 0))
    }

    deinit { close(fd) }

    func call<P: RPCProcedure>(_: P.Type, _ arguments: P.Arguments) throws -> P.Reply {
        var out = ByteBuffer()
        out.writeRPCPacket(header: RPCHeader(program: P.program, procedure: P.procedure, type: .call, serial: serial), payload: arguments)
        serial &+= 1
        let sent = out.withUnsafeReadableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard sent == out.readableBytes else { throw BenchError("short write") }
        while true {
            if let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self), buffer.readableBytes >= Int(length) {
                var packet = buffer.readSlice(length: Int(length))!
                packet.moveReaderIndex(forwardBy: 4)
                let header = try RPCHeader(xdr: &packet)
                if header.program == RPCProgram.keepalive.rawValue { continue }
                guard header.status == .ok else { throw BenchError("\(try RemoteError(xdrRecord: packet))") }
                return try P.Reply(xdrRecord: packet)
            }
            let n = read(fd, &incoming, incoming.count)
            guard n > 0 else { throw BenchError("connection closed") }
            buffer.discardReadBytes()
            buffer.writeBytes(incoming[0..<n])
        }
    }
}

import CorralProtocol
import FuzzSupport
import NIOCore
import XDR

// A byte stream from a client: split into frames as the daemon splits it, each frame's body
// decoded as the arguments and the reply of the procedure its header names (the fuzzer mutates
// the number, so every procedure is reached), and as a remote_error. Decoding fails with an
// error, never a trap.
runFuzzer { bytes in
    var buffer = ByteBuffer(bytes: bytes)
    var decoder = RPCFrameDecoder(maximumPacketLength: 1 << 20)
    while true {
        let frame: RPCFrame?
        do {
            frame = try decoder.decode(buffer: &buffer)
        } catch {
            return
        }
        guard let frame else { return }
        switch RPCProgram(rawValue: frame.header.program) {
        case .remote?: if let procedure = RemoteProcedure(rawValue: frame.header.procedure) { decode(procedure.procedureType, frame.body) }
        case .qemu?: if let procedure = QemuProcedure(rawValue: frame.header.procedure) { decode(procedure.procedureType, frame.body) }
        default: break
        }
        _ = try? RemoteError(xdrRecord: frame.body)
    }
}

func decode<P: RPCProcedure>(_: P.Type, _ body: ByteBuffer) {
    _ = try? P.Arguments(xdrRecord: body)
    _ = try? P.Reply(xdrRecord: body)
}

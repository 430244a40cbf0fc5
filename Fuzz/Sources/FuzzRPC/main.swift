import CorralProtocol
import FuzzSupport
import NIOCore
import XDR

// A byte stream from a client: split into frames as the daemon splits it, and every frame's
// body decoded as the arguments of every procedure (whatever number the header claims), then
// as a reply and a remote_error. Decoding fails with an error, never a trap.
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
        for procedure in RemoteProcedure.allCases { decode(procedure.procedureType, frame.body) }
        for procedure in QemuProcedure.allCases { decode(procedure.procedureType, frame.body) }
        _ = try? RemoteError(xdrRecord: frame.body)
    }
}

func decode<P: RPCProcedure>(_: P.Type, _ body: ByteBuffer) {
    _ = try? P.Arguments(xdrRecord: body)
    _ = try? P.Reply(xdrRecord: body)
}

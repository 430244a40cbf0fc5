import CorralProtocol
import NIOCore
import Testing
import XDR

@Suite("Typed parameters")
struct TypedParameterTests {
    @Test("every type round-trips with libvirt's discriminants and layout")
    func roundTrip() throws {
        let parameters: [TypedParameter] = [
            .init("a", .int(-5)), .init("b", .uint(7)), .init("c", .longLong(-1 << 40)), .init("d", .unsignedLongLong(.max)),
            .init("e", .double(2.5)), .init("f", .boolean(true)), .init("g", .string("vda")),
        ]
        for parameter in parameters {
            let bytes = parameter.xdrEncoded()
            // The field string ("a" + 3 bytes of padding), then the type as an int.
            #expect(Array(bytes.readableBytesView.dropFirst(8).prefix(4)) == [0, 0, 0, UInt8(parameter.value.kind.rawValue)])
            #expect(try TypedParameter(xdrRecord: bytes) == parameter)
        }
        #expect(TypedParameter("x", .unsignedLongLong(1)).xdrEncoded().readableBytes == 8 + 4 + 8)
    }

    @Test("an unknown type does not decode")
    func unknownType() {
        var buffer = ByteBuffer()
        buffer.writeXDRString("x")
        buffer.writeXDRInt32(8)
        buffer.writeXDRInt32(0)
        #expect(throws: XDRDecodingError.self) { try TypedParameter(xdrRecord: buffer) }
    }

    @Test("strings reach only clients that said they take them")
    func stringOkay() {
        let parameters: [TypedParameter] = [.init("block.0.name", .string("vda")), .init("block.count", .uint(1))]
        #expect(parameters.forClient(flags: 0).map(\.field) == ["block.count"])
        #expect(parameters.forClient(flags: 1 << 2).count == 2)
        #expect(parameters[field: "block.count"] == .uint(1))
    }
}

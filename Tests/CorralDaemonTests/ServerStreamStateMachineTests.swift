import CorralProtocol
import Testing

@testable import CorralDaemon

@Suite("Server stream state machine")
struct ServerStreamStateMachineTests {
    @Test("an upload takes data and holes (when sparse), then a finish; later packets are ignored")
    func upload() {
        var machine = ServerStreamStateMachine(direction: .fromClient, allowsHoles: true)
        #expect(machine.packetReceived(type: .stream, status: .continue, payloadLength: 10) == .deliverData)
        #expect(machine.packetReceived(type: .streamHole, status: .continue, payloadLength: 12) == .deliverHole)
        #expect(machine.packetReceived(type: .stream, status: .continue, payloadLength: 0) == .ignore)
        #expect(machine.packetReceived(type: .stream, status: .ok, payloadLength: 0) == .finish)
        #expect(machine.packetReceived(type: .stream, status: .continue, payloadLength: 10) == .ignore)
        #expect(machine.state == .closing)
    }

    @Test("a hole on a stream opened without the sparse flag fails it with libvirt's error")
    func unexpectedHole() {
        var machine = ServerStreamStateMachine(direction: .fromClient, allowsHoles: false)
        guard case .fail(let error) = machine.packetReceived(type: .streamHole, status: .continue, payloadLength: 12) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.message == "Unexpected stream hole" && machine.state == .closed)
        #expect(machine.packetReceived(type: .stream, status: .ok, payloadLength: 0) == .ignore)
    }

    @Test("a download refuses data from the client, and accepts its finish after the end of data")
    func download() {
        var machine = ServerStreamStateMachine(direction: .toClient, allowsHoles: false)
        machine.sourceEnded()
        #expect(machine.state == .sourceEnded)
        #expect(machine.packetReceived(type: .stream, status: .ok, payloadLength: 0) == .finish)
        var other = ServerStreamStateMachine(direction: .toClient, allowsHoles: false)
        guard case .fail = other.packetReceived(type: .stream, status: .continue, payloadLength: 5) else {
            Issue.record("expected a failure")
            return
        }
    }

    @Test("an abort from the client is an abort, whichever way data flows", arguments: [
        ServerStreamStateMachine.Direction.toClient, .fromClient, .both,
    ])
    func abort(direction: ServerStreamStateMachine.Direction) {
        var machine = ServerStreamStateMachine(direction: direction, allowsHoles: false)
        #expect(machine.packetReceived(type: .stream, status: .error, payloadLength: 0) == .abort)
    }
}

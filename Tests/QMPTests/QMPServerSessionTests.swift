import CorralJSON
import Foundation
import QMP
import Testing

@Suite("QMP server session (the proxy's side of QMP)")
struct QMPServerSessionTests {
    func json(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }

    @Test("commands before qmp_capabilities are refused as QEMU refuses them; negotiation is once")
    func negotiation() throws {
        var session = QMPServerSession()
        #expect(session.messageReceived(try json(#"{"execute":"query-status","id":1}"#)) == [
            .send(try json(#"{"error":{"class":"CommandNotFound","desc":"Expecting capabilities negotiation with 'qmp_capabilities'"},"id":1}"#))
        ])
        #expect(session.eventReceived(try json(#"{"event":"STOP"}"#)).isEmpty, "no events before negotiation")
        #expect(session.messageReceived(try json(#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}"#)) == [
            .send(try json(#"{"error":{"class":"GenericError","desc":"Capability 'oob' not available"}}"#))
        ])
        #expect(session.messageReceived(try json(#"{"execute":"qmp_capabilities","id":"n"}"#)) == [.send(try json(#"{"return":{},"id":"n"}"#))])
        #expect(session.state == .ready)
        #expect(session.messageReceived(try json(#"{"execute":"qmp_capabilities"}"#)) == [
            .send(try json(#"{"error":{"class":"CommandNotFound","desc":"Capabilities negotiation is already complete, command ignored"}}"#))
        ])
        #expect(session.eventReceived(try json(#"{"event":"STOP"}"#)) == [.send(try json(#"{"event":"STOP"}"#))])
    }

    @Test("malformed input gets QEMU's errors, with the id when there is one")
    func malformed() throws {
        var session = QMPServerSession()
        #expect(session.messageReceived(try json("[1]")) == [.send(try json(#"{"error":{"class":"GenericError","desc":"QMP input must be a JSON object"}}"#))])
        #expect(session.messageReceived(try json(#"{"id":5}"#)) == [.send(try json(#"{"error":{"class":"GenericError","desc":"QMP input lacks member 'execute'"},"id":5}"#))])
        #expect(session.messageReceived(try json(#"{"execute":1}"#)) == [.send(try json(#"{"error":{"class":"GenericError","desc":"QMP input member 'execute' must be a string"}}"#))])
        #expect(session.messageReceived(try json(#"{"execute":"x","bogus":1}"#)) == [.send(try json(#"{"error":{"class":"GenericError","desc":"QMP input member 'bogus' is unexpected"}}"#))])
        #expect(session.messageReceived(try json(#"{"execute":"x","arguments":[]}"#)) == [.send(try json(#"{"error":{"class":"GenericError","desc":"QMP input member 'arguments' must be an object"}}"#))])
        guard case .send(let reply) = session.garbageReceived("unexpected character").first else { Issue.record("no reply"); return }
        #expect(reply["error"]?["class"]?.stringValue == "GenericError")
    }

    @Test("commands run one at a time in order; each reply gets its client id back")
    func ordering() throws {
        var session = QMPServerSession()
        _ = session.messageReceived(try json(#"{"execute":"qmp_capabilities"}"#))
        #expect(session.messageReceived(try json(#"{"execute":"stop","id":{"mine":[1]}}"#)) == [.forward(try json(#"{"execute":"stop"}"#))])
        #expect(session.messageReceived(try json(#"{"execute":"query-status","arguments":{},"id":"b"}"#)).isEmpty, "waits for the first")
        #expect(session.messageReceived(try json(#"{"execute":"cont"}"#)).isEmpty)
        #expect(session.pendingCount == 3)
        #expect(session.replyReceived(try json(#"{"return":{},"id":"libvirt-9"}"#)) == [
            .send(try json(#"{"return":{},"id":{"mine":[1]}}"#)), .forward(try json(#"{"execute":"query-status","arguments":{}}"#)),
        ])
        #expect(session.replyReceived(nil, failure: "the daemon went away") == [
            .send(try json(#"{"error":{"class":"GenericError","desc":"the daemon went away"},"id":"b"}"#)), .forward(try json(#"{"execute":"cont"}"#)),
        ])
        #expect(session.replyReceived(try json(#"{"error":{"class":"GenericError","desc":"no"}}"#)) == [.send(try json(#"{"error":{"class":"GenericError","desc":"no"}}"#))])
        #expect(session.pendingCount == 0)
        #expect(session.replyReceived(try json(#"{"return":{}}"#)).isEmpty, "a stray reply is ignored")
    }

    @Test("the greeting and events have QEMU's shape")
    func shapes() throws {
        let greeting = QMPServerSession.greeting(version: try json(#"{"qemu":{"major":7,"minor":2,"micro":0},"package":""}"#))
        #expect(greeting.description == #"{"QMP":{"version":{"qemu":{"major":7,"minor":2,"micro":0},"package":""},"capabilities":[]}}"#)
        let event = QMPEvent.message(name: "STOP", seconds: 5, microseconds: 7, data: nil)
        #expect(event.description == #"{"timestamp":{"seconds":5,"microseconds":7},"event":"STOP"}"#)
    }
}

@Suite("JSON boundary scanner")
struct JSONBoundaryScannerTests {
    /// Splits `text` fed in pieces of `step` bytes, as a stream would deliver it.
    func split(_ text: String, step: Int) throws -> [String] {
        var scanner = JSONBoundaryScanner(maximumDepth: 8, maximumLength: 1000)
        let bytes = Array(text.utf8)
        var values: [String] = []
        var start = 0, scanned = 0, fed = 0
        while fed < bytes.count {
            fed = min(bytes.count, fed + step)
            while let end = try scanner.scan(bytes[(start + scanned)..<fed]) {
                values.append(String(decoding: bytes[start..<(start + scanned + end)], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
                start += scanned + end
                scanned = 0
            }
            scanned = fed - start
        }
        return values
    }

    @Test("values without newlines, split anywhere, with brackets and quotes inside strings", arguments: [1, 2, 3, 7, 1000])
    func splitting(step: Int) throws {
        let text = #"{"a":"}{\"]"}  {"b":[1,{"c":[]}]}"# + "\r\n" + #"[1]{"d":"\\"}"#
        #expect(try split(text, step: step) == [#"{"a":"}{\"]"}"#, #"{"b":[1,{"c":[]}]}"#, "[1]", #"{"d":"\\"}"#])
    }

    @Test("limits: depth, length and unbalanced brackets")
    func limits() {
        var deep = JSONBoundaryScanner(maximumDepth: 3, maximumLength: 100)
        #expect(throws: JSONBoundaryScanner.Failure.tooDeep) { try deep.scan(Array("[[[[".utf8)) }
        var long = JSONBoundaryScanner(maximumDepth: 3, maximumLength: 10)
        #expect(throws: JSONBoundaryScanner.Failure.tooLong) { try long.scan(Array(#"{"aaaaaaaaaaaa":1}"#.utf8)) }
        var unbalanced = JSONBoundaryScanner()
        #expect(throws: JSONBoundaryScanner.Failure.unbalanced) { try unbalanced.scan(Array("}".utf8)) }
    }
}

@testable import CorralDaemon
import CorralJSON
import CorralProtocol
import Testing

@Suite("Guest agent exchange")
struct GuestAgentExchangeTests {
    static let ping = JSONValue.object([("execute", .string("guest-ping"))])

    @Test("leftovers before the sync's echo are skipped; the reply after it is returned")
    func normalExchange() {
        var exchange = GuestAgentExchange(command: Self.ping, syncID: 42, awaitsReply: true)
        #expect(exchange.start() == [.send(#"{"execute":"guest-sync","arguments":{"id":42}}"#)])
        #expect(exchange.lineReceived(Array(#"{"return": 41}"#.utf8)).isEmpty)
        #expect(exchange.lineReceived(Array("\u{ff}garbage".utf8)).isEmpty)
        #expect(exchange.lineReceived(Array(#"{"return": 42}"#.utf8)) == [.send(#"{"execute":"guest-ping"}"#), .commandSent])
        #expect(exchange.lineReceived(Array(#"{"return": {}}"#.utf8)) == [.finish(.success(#"{"return":{}}"#))])
        #expect(exchange.state == .finished)
        #expect(exchange.timedOut().isEmpty)
    }

    @Test("a hostile reply after the sync is an error naming the problem", arguments: [
        [0x7B, 0x22, 0x72, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D] as [UInt8],  // {"r":"\xff"}
        Array(#"{"return": "\ud800x"}"#.utf8),
        Array((String(repeating: "[", count: 10000) + String(repeating: "]", count: 10000)).utf8),
        Array("\u{1}garbage}}]]".utf8),
    ])
    func hostileReplies(_ line: [UInt8]) {
        var exchange = GuestAgentExchange(command: Self.ping, syncID: 7, awaitsReply: true)
        _ = exchange.lineReceived(Array(#"{"return": 7}"#.utf8))
        guard case .finish(.failure(let error))? = exchange.lineReceived(line).first else {
            Issue.record("a hostile reply must finish the exchange with an error")
            return
        }
        #expect(error.message?.contains("unable to parse the guest agent's reply") == true)
    }

    @Test("agent errors, timeouts and closed channels are libvirt's errors")
    func failures() {
        var exchange = GuestAgentExchange(command: Self.ping, syncID: 1, awaitsReply: true)
        _ = exchange.lineReceived(Array(#"{"return": 1}"#.utf8))
        guard case .finish(.failure(let error))? = exchange.lineReceived(Array(#"{"error": {"class": "GenericError", "desc": "nope"}}"#.utf8)).first else {
            Issue.record("expected an error")
            return
        }
        #expect(error.message?.contains("unable to execute QEMU agent command 'guest-ping': nope") == true)
        var silent = GuestAgentExchange(command: Self.ping, syncID: 1, awaitsReply: true)
        #expect(silent.timedOut() == [.finish(.failure(GuestAgentExchange.notResponding("Guest agent not available for now")))])
        var closed = GuestAgentExchange(command: Self.ping, syncID: 1, awaitsReply: true)
        #expect(closed.channelFailed() == [.finish(.failure(GuestAgentExchange.notResponding("QEMU guest agent is not connected")))])
        var noWait = GuestAgentExchange(command: Self.ping, syncID: 3, awaitsReply: false)
        #expect(noWait.lineReceived(Array(#"{"return": 3}"#.utf8)) == [.send(#"{"execute":"guest-ping"}"#), .finish(.success(""))])
    }
}

import CorralJSON
import FuzzSupport
import QMP

// A QMP byte stream, split by the boundary scanner as the proxy and the daemon split it, each
// value fed to the client session (as from QEMU) and the server session (as from a client).
// Nothing may trap; the scanner's offsets must stay inside the input.
runFuzzer { bytes in
    var scanner = JSONBoundaryScanner(maximumDepth: 64, maximumLength: 1 << 16)
    var client = QMPSessionStateMachine<Int>()
    var server = QMPServerSession()
    _ = client.commandRequested("query-status", arguments: nil, pending: 1)
    var rest = Array(bytes)[...]
    while !rest.isEmpty {
        let end: Int?
        do {
            end = try scanner.scan(rest)
        } catch {
            _ = client.garbageReceived("\(error)")
            _ = server.garbageReceived("\(error)")
            return
        }
        guard let end else { return }
        guard end >= 0, end <= rest.count else { fuzzFailure("scanner offset \(end) outside \(rest.count) bytes") }
        let value = rest.prefix(end)
        rest = rest.dropFirst(end)
        guard let message = try? JSONValue.parse(Array(value)) else {
            _ = client.garbageReceived("not JSON")
            _ = server.garbageReceived("not JSON")
            continue
        }
        _ = client.messageReceived(message)
        _ = server.messageReceived(message)
        _ = server.replyReceived(message)
        _ = server.eventReceived(message)
    }
}

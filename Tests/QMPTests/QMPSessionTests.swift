import CorralJSON
import Foundation
import NIOCore
import POSIXSupport
import QMP
import Testing

@Suite("QMP session state machine")
struct QMPSessionStateMachineTests {
    typealias Machine = QMPSessionStateMachine<Int>

    static func json(_ text: String) -> JSONValue { try! JSONValue.parse(text) }

    @Test("greeting, negotiation, queued commands, replies by id, events interleaved")
    func happyPath() {
        var machine = Machine(idPrefix: "t")
        #expect(machine.commandRequested("query-status", arguments: nil, pending: 1).isEmpty, "queued until ready")
        let afterGreeting = machine.messageReceived(Self.json(#"{"QMP": {"version": {}, "capabilities": []}}"#))
        guard case .send(let negotiate) = afterGreeting.first else { Issue.record("must negotiate"); return }
        #expect(negotiate["execute"]?.stringValue == "qmp_capabilities")
        let ready = machine.messageReceived(Self.json(#"{"return": {}, "id": "t-negotiate"}"#))
        #expect(ready.count == 2)
        guard case .send(let queued) = ready.last else { Issue.record("queued command must be sent"); return }
        #expect(queued == Self.json(#"{"execute":"query-status","id":"t-0"}"#))
        guard case .send(let stop) = machine.commandRequested("stop", arguments: nil, pending: 2).first else { Issue.record("send"); return }
        #expect(stop["id"]?.stringValue == "t-1")
        // The STOP event comes before stop's reply; replies may come in any order.
        guard case .deliver(let event) = machine.messageReceived(Self.json(#"{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}"#)).first else {
            Issue.record("event"); return
        }
        #expect(event.name == "STOP" && event.seconds == 1 && event.microseconds == 2)
        guard case .complete(let call, .success) = machine.messageReceived(Self.json(#"{"return": {}, "id": "t-1"}"#)).first else { Issue.record("reply"); return }
        #expect(call == 2)
        guard case .complete(let first, .failure(let error)) = machine.messageReceived(Self.json(#"{"error": {"class": "GenericError", "desc": "nope"}, "id": "t-0"}"#)).first else {
            Issue.record("error reply"); return
        }
        #expect(first == 1 && error.errorClass == "GenericError" && error.message == "nope" && error.code == .commandFailed)
        #expect(machine.pendingCount == 0)
    }

    @Test("garbage, a missing greeting and unknown reply ids fail the session, not the process")
    func violations() {
        var noGreeting = Machine()
        guard case .failAndClose = noGreeting.messageReceived(Self.json(#"{"return": {}}"#)).first else { Issue.record("must fail"); return }
        var garbage = Machine()
        _ = garbage.messageReceived(Self.json(#"{"QMP": {}}"#))
        _ = garbage.messageReceived(Self.json(#"{"return": {}, "id": "corral-negotiate"}"#))
        _ = garbage.commandRequested("x", arguments: nil, pending: 7)
        guard case .failAndClose(let pending, _) = garbage.garbageReceived("bad").first else { Issue.record("must fail"); return }
        #expect(pending == [7])
        #expect(garbage.state == .closed)
        guard case .complete(_, .failure) = garbage.commandRequested("y", arguments: nil, pending: 8).first else { Issue.record("closed"); return }
        var stray = Machine()
        _ = stray.messageReceived(Self.json(#"{"QMP": {}}"#))
        _ = stray.messageReceived(Self.json(#"{"return": {}, "id": "corral-negotiate"}"#))
        guard case .failAndClose = stray.messageReceived(Self.json(#"{"return": {}, "id": "nobody"}"#)).first else { Issue.record("must fail"); return }
    }

    @Test("JSON limits: nesting depth and malformed text are errors")
    func jsonLimits() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep, limits: JSONLimits(maximumDepth: 64)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse("{\"a\": }") }
        let parsed = try? JSONValue.parse(#"{"a":[1,-2,3.5,"x\u00e9\n",true,null]}"#)
        #expect(parsed?.description == #"{"a":[1,-2,3.5,"xé\n",true,null]}"#)
    }
}

@Suite("QMP client against a real QEMU")
struct QMPClientTests {
    @Test("negotiates, runs commands, sees STOP and RESUME, reports errors, and ends when QEMU quits")
    func realQEMU() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("corral-qmp-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/qmp.sock"
        let qemu = try ChildProcess.spawn(
            "/usr/bin/qemu-system-x86_64", ["-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none", "-qmp", "unix:\(socket),server=on,wait=off"],
            standardOutput: .null, standardError: .null)
        defer { qemu.stop(grace: 5) }
        var client: QMPClient?
        for _ in 0..<200 where client == nil {
            client = try? await QMPClient.connect(unixSocket: socket)
            if client == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let qmp = try #require(client)
        #expect(qmp.greeting["return"] != nil)
        #expect(try await qmp.queryVersion() >= 7_000_000)
        #expect(try await qmp.queryStatus().running)
        // A waiter set before the command gets the event it causes; one for an event that
        // never comes gets nil when its time is up.
        let stopped = qmp.nextEvent(named: ["STOP"], within: .seconds(10))
        let never = qmp.nextEvent(named: ["MIGRATION"], within: .milliseconds(30))
        try await qmp.stop()
        #expect(try await stopped.get()?.name == "STOP")
        #expect(try await never.get() == nil)
        #expect(try await qmp.queryStatus().status == "paused")
        try await qmp.cont()
        do {
            _ = try await qmp.execute("no-such-command")
            Issue.record("must fail")
        } catch {
            #expect(error.errorClass == "CommandNotFound")
        }
        let hmp = try await qmp.humanMonitorCommand("info status")
        #expect(hmp.contains("running"))
        // Pipelined commands.
        async let a = qmp.queryStatus()
        async let b = qmp.queryVersion()
        _ = try await (a, b)
        try? await qmp.quit()
        var names: [String] = []
        for await event in qmp.events { names.append(event.name) }
        #expect(names.contains("STOP") && names.contains("RESUME") && names.contains("SHUTDOWN"))
        #expect(!qmp.isOpen)
        #expect(try await qmp.nextEvent(named: ["STOP"], within: .seconds(10)).get() == nil)
        do {
            _ = try await qmp.queryStatus()
            Issue.record("a closed session must refuse commands")
        } catch {
            #expect(error.code == .connectionClosed)
        }
    }
}

@Suite("QMP raw passthrough")
struct QMPRawTests {
    static func ready() -> QMPSessionStateMachine<Int> {
        var machine = QMPSessionStateMachine<Int>(idPrefix: "p", capabilities: ["oob"])
        _ = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"QMP": {"capabilities": ["oob"]}}"#))
        _ = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"return": {}, "id": "p-negotiate"}"#))
        return machine
    }

    static func sent(_ actions: [QMPSessionStateMachine<Int>.Action]) -> JSONValue? {
        guard case .send(let message) = actions.first else { return nil }
        return message
    }

    @Test("an in-band command goes as the caller wrote it, and replies are matched by order")
    func inBandByOrder() {
        var machine = Self.ready()
        let first = Self.sent(machine.rawCommandRequested(QMPSessionStateMachineTests.json(#"{"execute":"query-status"}"#), pending: 1))
        #expect(first?.description == #"{"execute":"query-status"}"#)
        let second = Self.sent(machine.rawCommandRequested(QMPSessionStateMachineTests.json(#"{"execute":"query-name","id":"client-7"}"#), pending: 2))
        #expect(second?["id"]?.stringValue == "client-7")
        #expect(machine.pendingCount == 2)
        // An event between the replies is delivered, not taken for a reply.
        guard case .deliver = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}"#)).first else {
            Issue.record("event"); return
        }
        guard case .complete(1, .success(let reply)) = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"error": {"class": "GenericError", "desc": "x"}}"#)).first else {
            Issue.record("the first reply, an error without an id, completes the first command"); return
        }
        #expect(reply["error"]?["class"]?.stringValue == "GenericError")
        guard case .complete(2, .success(let named)) = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"return": {}, "id": "client-7"}"#)).first else {
            Issue.record("the second reply completes the second command"); return
        }
        #expect(named["id"]?.stringValue == "client-7")
        #expect(machine.pendingCount == 0)
    }

    @Test("an out-of-band command travels with the session's id and comes back with the caller's")
    func outOfBandIDs() {
        var machine = Self.ready()
        _ = machine.rawCommandRequested(QMPSessionStateMachineTests.json(#"{"execute":"query-status"}"#), pending: 1)
        let oob = Self.sent(machine.rawCommandRequested(QMPSessionStateMachineTests.json(#"{"exec-oob":"migrate-pause","id":"client-9"}"#), pending: 2))
        #expect(oob?["id"]?.stringValue == "p-0")
        // The out-of-band reply overtakes the in-band one.
        guard case .complete(2, .success(let reply)) = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"error": {"class": "GenericError", "desc": "x"}, "id": "p-0"}"#)).first else {
            Issue.record("oob reply"); return
        }
        #expect(reply["id"]?.stringValue == "client-9")
        guard case .complete(1, .success) = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"return": {}}"#)).first else {
            Issue.record("in-band reply"); return
        }
    }

    @Test("a caller's id that looks like the session's is replaced, so that it cannot be taken for one")
    func collidingID() {
        var machine = Self.ready()
        let sent = Self.sent(machine.rawCommandRequested(QMPSessionStateMachineTests.json(#"{"execute":"query-status","id":"p-5"}"#), pending: 1))
        #expect(sent?["id"]?.stringValue == "p-0")
        guard case .complete(1, .success(let reply)) = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"return": {}, "id": "p-0"}"#)).first else {
            Issue.record("complete"); return
        }
        #expect(reply["id"]?.stringValue == "p-5")
    }

    @Test("commands asked for before negotiation go after it, in order; a closed session fails them")
    func beforeReadyAndClose() {
        var machine = QMPSessionStateMachine<Int>(idPrefix: "p")
        #expect(machine.rawCommandRequested(QMPSessionStateMachineTests.json(#"{"execute":"query-status"}"#), pending: 1).isEmpty)
        _ = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"QMP": {}}"#))
        let actions = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"return": {}, "id": "p-negotiate"}"#))
        #expect(actions.count == 2)
        _ = machine.rawCommandRequested(QMPSessionStateMachineTests.json(#"{"execute":"query-name"}"#), pending: 2)
        guard case .complete(1, .success) = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"return": {}}"#)).first else {
            Issue.record("first"); return
        }
        #expect(machine.connectionClosed() == [2])
        guard case .complete(3, .failure) = machine.rawCommandRequested(QMPSessionStateMachineTests.json(#"[1]"#), pending: 3).first else {
            Issue.record("not an object must fail"); return
        }
    }

    @Test("a reply with nothing waiting for it is a protocol violation")
    func unexpectedReply() {
        var machine = Self.ready()
        guard case .failAndClose = machine.messageReceived(QMPSessionStateMachineTests.json(#"{"return": {}}"#)).first else {
            Issue.record("must fail"); return
        }
    }
}

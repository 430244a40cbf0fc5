import CorralJSON
import CorralProtocol
import Logging
import NIOCore
import QMP
import Synchronization

/// Runs clients' monitor commands on a guest's passthrough session.
///
/// The session itself belongs to the domain (``GuestRuntime/passthrough``). `DOMAIN_MONITOR_COMMAND`
/// for a guest whose session is open runs straight from the connection's event loop onto the
/// session's channel and back, with no task and no actor hop (a passthrough round trip is a
/// handful of microseconds of daemon work; thread hops would dominate it). The first call for a
/// guest, which opens the session and taints the guest, goes through ``DomainDriver``; the
/// session goes with the guest's runtime when it stops, so the next run's first call taints again.
final class PassthroughSessions: Sendable {
    private let counter = Atomic<Int>(0)
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Runs a client's QMP message (or HMP command line) on `session`: QEMU's whole reply for
    /// QMP (errors included), the output for HMP, with libvirt's errors otherwise.
    func run(_ command: String, hmp: Bool, on session: QMPClient) -> EventLoopFuture<String> {
        let eventLoop = session.eventLoop
        let message: JSONValue
        var replyID: String?
        do throws(RemoteError) {
            if hmp {
                message = Self.hmpMessage(command)
            } else {
                (message, replyID) = try prepare(command)
            }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        // One callback, not a chain of future transformations: each link would cost a promise,
        // a future and a closure on every call.
        let output = eventLoop.makePromise(of: String.self)
        session.executeRawFuture(message).whenComplete { [logger] result in
            switch result {
            case .success(let reply):
                do throws(RemoteError) {
                    output.succeed(try Self.output(of: Self.withID(reply, replyID), hmp: hmp, command: command))
                } catch {
                    output.fail(error)
                }
            case .failure(let error):
                output.fail(Self.remoteError(error, logger: logger))
            }
        }
        return output.futureResult
    }

    /// What the client gets for QEMU's reply: the whole reply for QMP, the output for HMP.
    static func output(of reply: JSONValue, hmp: Bool, command: String) throws(RemoteError) -> String {
        guard hmp else { return reply.description }
        if let error = reply["error"] {
            if error["class"]?.stringValue == "CommandNotFound" {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "Human monitor command is not available to run \(command)")
            }
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'human-monitor-command': \(error["desc"]?.stringValue ?? "")")
        }
        return reply["return"]?.stringValue ?? ""
    }

    /// libvirt's error for a session that failed.
    static func remoteError(_ error: any Error, logger: Logger) -> RemoteError {
        if let error = error as? RemoteError { return error }
        if let error = error as? QMPError, error.code == .protocolViolation {
            // A guest can influence what QEMU sends: one line per broken reply (the session
            // closes with it, and the next call opens a new one).
            logger.warning("a guest's passthrough monitor sent a malformed reply; its session is closed", metadata: ["error": "\(error.message.prefix(200))"])
        }
        if let error = error as? QMPError, error.code == .connectionClosed {
            return RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
        }
        return RemoteError(code: .internalError, domain: .qemu, detail: "\(error)")
    }

    /// The client's QMP message, and the id its reply gets when it has none (libvirt's
    /// `libvirt-N`). The id is not sent: QEMU reads a monitor a byte at a time, and the session
    /// matches in-band replies by order (``QMPSessionStateMachine``).
    func prepare(_ command: String) throws(RemoteError) -> (message: JSONValue, replyID: String?) {
        let message: JSONValue
        do throws(JSONParseError) {
            message = try JSONValue.parse(command)
        } catch {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot parse json \(command): \(error.message)")
        }
        guard case .object(var members) = message else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot parse json \(command): not a JSON object")
        }
        guard !members.contains(where: { $0.0 == "id" }) else { return (message, nil) }
        let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let id = "libvirt-\(number)"
        if members.contains(where: { $0.0 == "exec-oob" }) {
            // An out-of-band command needs its id in QEMU's reply to be told apart.
            members.append(("id", .string(id)))
            return (.object(members), nil)
        }
        return (message, id)
    }

    /// `reply` with member `id` appended, as QEMU would have (an object without one only).
    static func withID(_ reply: JSONValue, _ id: String?) -> JSONValue {
        guard let id, case .object(var members) = reply, !members.contains(where: { $0.0 == "id" }) else { return reply }
        members.append(("id", .string(id)))
        return .object(members)
    }

    static func hmpMessage(_ commandLine: String) -> JSONValue {
        .object([("execute", .string("human-monitor-command")), ("arguments", .object([("command-line", .string(commandLine))]))])
    }
}

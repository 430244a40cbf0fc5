import ArgumentParser
import CorralClient
import CorralProtocol
import CorralQEMU
import Foundation
import POSIXSupport
import QMP

extension Corral {
    /// `corral qemu-monitor-event [DOMAIN] [--event NAME] [--pretty] [--loop] [--timeout S]
    /// [--regex] [--no-case] [--timestamp]`: QMP events of guests, printed as virsh prints them.
    struct QEMUMonitorEventCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qemu-monitor-event", abstract: "Wait for and print QEMU monitor (QMP) events of a guest, or of every guest.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Only this domain.") var domain: String?
        @Option(help: "Only events of this name.") var event: String?
        @Flag(help: "Pretty-print the event details.") var pretty = false
        @Flag(help: "Keep printing events until interrupted (or the timeout).") var loop = false
        @Option(help: "Stop after this many seconds.") var timeout: Int?
        @Flag(help: "The event name is a regular expression.") var regex = false
        @Flag(name: .customLong("no-case"), help: "Match the event name ignoring case.") var noCase = false
        @Flag(help: "Print the local time instead of QEMU's timestamp.") var timestamp = false

        func run() async throws {
            let count = try await connection.withConnection { connection in
                let handle = try await domain.asyncMap { try await connection.lookupDomain($0) }
                var matching: QEMUMonitorEventMatch = []
                if regex { matching.insert(.regex) }
                if noCase { matching.insert(.ignoringCase) }
                let subscription = try await connection.qemuMonitorEvents(domain: handle, event: event, matching: matching)
                let events = subscription.events
                let (loop, timeout, pretty, timestamp) = (self.loop, self.timeout, self.pretty, self.timestamp)
                let count = await withTaskGroup(of: Int?.self) { group in
                    group.addTask {
                        var count = 0
                        for await event in events {
                            print(Self.line(for: event, pretty: pretty, timestamp: timestamp))
                            fflush(nil)
                            count += 1
                            if !loop { break }
                        }
                        return count
                    }
                    group.addTask {
                        try? await Task.sleep(for: .seconds(timeout ?? 86400 * 365))
                        return nil
                    }
                    var count = 0
                    for await result in group {
                        // The first to finish ends the wait: the printer (its count) or the timeout.
                        group.cancelAll()
                        if let result { count = result }
                    }
                    return count
                }
                try? await connection.endQEMUMonitorEvents(subscription)
                return count
            }
            print("events received: \(count)")
            if count == 0 { throw ExitCode.failure }
        }

        static func line(for event: QEMUMonitorEvent, pretty: Bool, timestamp: Bool) -> String {
            var details = event.details ?? "(null)"
            if pretty, let text = event.details, let data = text.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed),
                let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed])
            {
                details = String(decoding: pretty, as: UTF8.self)
            }
            if timestamp {
                return "\(EventFormat.timestamp()): event \(event.name) for domain '\(event.domain.name)': \(details)"
            }
            let micros = String(event.microseconds)
            return "event \(event.name) at \(event.seconds).\(String(repeating: "0", count: max(0, 6 - micros.count)) + micros) for domain '\(event.domain.name)': \(details)"
        }
    }

    /// `corral qemu-agent-command DOMAIN [--timeout N | --async | --block] [--pretty] CMD…`.
    struct QEMUAgentCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qemu-agent-command", abstract: "Send a command (JSON) to the guest agent of a running guest.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Option(help: "Seconds to wait for the agent.") var timeout: Int32?
        @Flag(name: .customLong("async"), help: "Do not wait for the reply.") var noWait = false
        @Flag(help: "Wait for the reply for ever.") var block = false
        @Flag(help: "Pretty-print the JSON reply.") var pretty = false
        @Argument(help: "The command (words are joined with spaces).") var command: [String]

        func validate() throws {
            if [timeout != nil, noWait, block].filter({ $0 }).count > 1 {
                throw ValidationError("--timeout, --async and --block are mutually exclusive")
            }
            if let timeout, timeout < 1 { throw ValidationError("timeout value must be positive") }
        }

        func run() async throws {
            let wait: QEMUAgentTimeout = noWait ? .noWait : block ? .block : timeout.map { .seconds($0) } ?? .default
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                let result = try await connection.qemuAgentCommand(handle, command.joined(separator: " "), timeout: wait) ?? ""
                guard pretty, let data = result.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) else {
                    print(result)
                    return
                }
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            }
        }
    }

    /// `corral qmp-proxy DOMAIN --socket PATH`: a QMP socket for ordinary QMP clients, through
    /// the daemon's passthrough, until interrupted.
    struct QMPProxyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qmp-proxy",
            abstract: "Serve QMP for a running guest on a Unix socket, through the daemon, until interrupted.",
            discussion: """
                Any QMP client (qmp-shell, a QMP library) that connects to PATH gets its own greeting and \
                negotiation, runs commands on the guest through the daemon's dedicated passthrough session \
                and receives the guest's events, while the daemon keeps managing the guest.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Option(help: "The Unix socket to listen on (created with mode 0600).") var socket: String

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                let proxy: QMPProxy
                do {
                    proxy = try await QMPProxy.start(connection: connection, domain: handle, socketPath: socket)
                } catch let error as QMPError {
                    throw CLIError(message: error.message)
                }
                print("QMP proxy for domain '\(handle.name)' listening on \(socket)")
                fflush(nil)
                // Until interrupted (then the proxy closes, which ends the wait), the guest stops,
                // or the daemon connection ends.
                let interrupted = Task {
                    await TerminationSignals.wait()
                    await proxy.close()
                }
                await proxy.waitUntilEnded()
                interrupted.cancel()
                await proxy.close()
                print("QMP proxy for domain '\(handle.name)' closed")
                unlink(socket)
            }
        }
    }
}

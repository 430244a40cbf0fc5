import ArgumentParser
import CorralClient
import CorralProtocol
import CorralQEMU
import Foundation

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
}

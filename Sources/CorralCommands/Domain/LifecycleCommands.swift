import ArgumentParser
import CorralClient
import CorralProtocol
import Foundation
import XDR

extension Corral {
    /// `corral start DOMAIN [--paused] [--autodestroy] [--console]`.
    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a defined domain.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name or UUID.") var domain: String
        @Flag(help: "Leave the vCPUs paused.") var paused = false
        @Flag(help: "Destroy the guest when this connection closes.") var autodestroy = false
        @Flag(help: "Follow the guest's serial log (for a serial of type 'file') after starting.") var console = false

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain, byID: false)
                guard handle.id < 0 else { throw CLIError(message: "Domain is already active") }
                let flags: UInt32 = (paused ? 1 : 0) | (autodestroy ? 2 : 0)
                _ = try await connection.startDomain(handle, flags: flags)
                print("Domain '\(handle.name)' started")
                if console { try await followSerial(connection, handle) }
            }
        }

        /// Prints the guest's file-backed serial output until it stops.
        func followSerial(_ connection: CorralConnection, _ handle: DomainHandle) async throws {
            let xml = try await connection.domainXML(handle)
            guard let range = xml.range(of: "<serial type='file'>"),
                let path = xml[range.upperBound...].split(separator: "'").dropFirst().first.map(String.init), path.hasPrefix("/")
            else { throw CLIError(message: "--console needs a serial port of type 'file' on this host") }
            var offset: UInt64 = 0
            while true {
                if let file = FileHandle(forReadingAtPath: path) {
                    try? file.seek(toOffset: offset)
                    let data = file.readDataToEndOfFile()
                    offset += UInt64(data.count)
                    FileHandle.standardOutput.write(data)
                    try? file.close()
                }
                let state = try await connection.domainState(handle)
                if state.state == 5 { return }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// `corral create FILE [--paused] [--autodestroy]`: a transient domain.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create and start a transient domain from an XML file.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The domain XML file.") var file: String
        @Flag(help: "Leave the vCPUs paused.") var paused = false
        @Flag(help: "Destroy the guest when this connection closes.") var autodestroy = false

        func run() async throws {
            let xml = try ConfigInput.read(file)
            try await connection.withConnection { connection in
                let handle = try await connection.createDomain(xml: xml, flags: (paused ? 1 : 0) | (autodestroy ? 2 : 0))
                print("Domain '\(handle.name)' created from \(file)")
            }
        }
    }

    /// The commands that act on a running domain and print one line, as virsh does.
    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a domain at once.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Flag(help: "Only ask QEMU to terminate (SIGTERM); do not kill it.") var graceful = false

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                try await connection.destroyDomain(handle, graceful: graceful)
                print("Domain '\(handle.name)' destroyed")
            }
        }
    }

    struct Shutdown: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask the guest to power off (ACPI).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Option(help: "Shutdown mode (acpi).") var mode: String?

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                if let mode {
                    guard mode == "acpi" else { throw CLIError(message: "only the acpi shutdown mode is supported") }
                    _ = try await connection.call(Remote.DomainShutdownFlags.self, .init(dom: handle, flags: 1))
                } else {
                    _ = try await connection.call(Remote.DomainShutdown.self, .init(dom: handle))
                }
                print("Domain '\(handle.name)' is being shutdown")
            }
        }
    }

    struct Reboot: DomainActionCommand {
        static let configuration = CommandConfiguration(abstract: "Reboot the guest (ACPI power-off, then reset).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        static let done = "is being rebooted"
        func perform(_ connection: CorralConnection, _ handle: DomainHandle) async throws {
            _ = try await connection.call(Remote.DomainReboot.self, .init(dom: handle, flags: 0))
        }
    }

    struct Reset: DomainActionCommand {
        static let configuration = CommandConfiguration(abstract: "Reset the guest, as the reset button does.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        static let done = "was reset"
        func perform(_ connection: CorralConnection, _ handle: DomainHandle) async throws {
            _ = try await connection.call(Remote.DomainReset.self, .init(dom: handle, flags: 0))
        }
    }

    struct Suspend: DomainActionCommand {
        static let configuration = CommandConfiguration(abstract: "Pause the guest's vCPUs.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        static let done = "suspended"
        func perform(_ connection: CorralConnection, _ handle: DomainHandle) async throws {
            _ = try await connection.call(Remote.DomainSuspend.self, .init(dom: handle))
        }
    }

    struct Resume: DomainActionCommand {
        static let configuration = CommandConfiguration(abstract: "Run a paused guest's vCPUs again.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        static let done = "resumed"
        func perform(_ connection: CorralConnection, _ handle: DomainHandle) async throws {
            _ = try await connection.call(Remote.DomainResume.self, .init(dom: handle))
        }
    }

    /// `corral domxml-to-native qemu-argv FILE` or `--domain NAME`.
    struct DomXMLToNative: AsyncParsableCommand, PlainOutputCommand {
        static let configuration = CommandConfiguration(commandName: "domxml-to-native", abstract: "Print the QEMU command line for a domain XML.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The native format (qemu-argv).") var format: String
        @Argument(help: "The domain XML file.") var file: String?
        @Option(help: "Use a defined domain's XML instead of a file.") var domain: String?

        func run() async throws {
            try await connection.withConnection { connection in
                let xml: String
                if let domain {
                    xml = try await connection.domainXML(try await connection.lookupDomain(domain), flags: 0)
                } else if let file {
                    xml = try ConfigInput.read(file)
                } else {
                    throw CLIError(message: "give a domain XML file or --domain")
                }
                print(try await connection.call(Remote.ConnectDomainXMLToNative.self, .init(nativeFormat: format, domainXml: xml, flags: 0)).nativeConfig)
            }
        }
    }

    /// `corral event [DOMAIN] [--all] [--loop] [--timeout N]`: lifecycle events as virsh prints them.
    struct Event: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Wait for and print domain lifecycle events.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Only this domain.") var domain: String?
        @Flag(help: "Lifecycle and reboot events.") var all = false
        @Flag(help: "Keep printing events until interrupted.") var loop = false
        @Option(help: "Stop after this many seconds.") var timeout: Int?
        @Flag(help: "Print a timestamp before each event.") var timestamp = false

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await domain.asyncMap { try await connection.lookupDomain($0) }
                let lifecycle = try await connection.call(Remote.ConnectDomainEventCallbackRegisterAny.self, .init(eventID: 0, dom: handle)).callbackID
                var reboot: Int32?
                if all { reboot = try await connection.call(Remote.ConnectDomainEventCallbackRegisterAny.self, .init(eventID: 1, dom: handle)).callbackID }
                let deadline = timeout.map { Date().addingTimeInterval(TimeInterval($0)) }
                let watchdog = Task {
                    if let deadline { try await Task.sleep(for: .seconds(deadline.timeIntervalSinceNow)) }
                    else { try await Task.sleep(for: .seconds(86400 * 365)) }
                }
                var count = 0
                eventLoop: for await frame in connection.events {
                    if watchdog.isCancelled { break }
                    if let deadline, Date() > deadline { break }
                    guard frame.header.program == RPCProgram.remote.rawValue else { continue }
                    let prefix = timestamp ? EventFormat.timestamp() + ": " : ""
                    switch frame.header.procedure {
                    case Remote.DomainEventCallbackLifecycle.procedure:
                        guard let message = try? Remote.DomainEventCallbackLifecycle.Arguments(xdrRecord: frame.body), message.callbackID == lifecycle else { continue }
                        print(prefix + "event 'lifecycle' for domain '\(message.dom.name)': \(EventFormat.lifecycle(message.event, message.detail))")
                    case Remote.DomainEventCallbackReboot.procedure:
                        guard let message = try? Remote.DomainEventCallbackReboot.Arguments(xdrRecord: frame.body), message.callbackID == reboot else { continue }
                        print(prefix + "event 'reboot' for domain '\(message.dom.name)'")
                    default:
                        continue
                    }
                    fflush(nil)
                    count += 1
                    if !loop { break eventLoop }
                }
                watchdog.cancel()
                print("events received: \(count)")
            }
        }
    }
}

/// A command that looks a domain up, does one thing to it, and says so as virsh does
/// ("Domain 'NAME' suspended").
protocol DomainActionCommand: AsyncParsableCommand {
    var connection: ConnectionOptions { get }
    var domain: String { get }
    /// The end of the confirmation line.
    static var done: String { get }
    func perform(_ connection: CorralConnection, _ handle: DomainHandle) async throws
}

extension DomainActionCommand {
    func run() async throws {
        try await connection.withConnection { connection in
            let handle = try await connection.lookupDomain(domain)
            try await perform(connection, handle)
            print("Domain '\(handle.name)' \(Self.done)")
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

/// virsh's wording for lifecycle events.
enum EventFormat {
    static func lifecycle(_ event: Int32, _ detail: Int32) -> String {
        let names = ["Defined", "Undefined", "Started", "Suspended", "Resumed", "Stopped", "Shutdown", "PMSuspended", "Crashed"]
        let details: [[String]] = [
            ["Added", "Updated", "Renamed", "Snapshot"], ["Removed", "Renamed"], ["Booted", "Migrated", "Restored", "Snapshot", "Event wakeup"],
            ["Paused", "Migrated", "I/O Error", "Watchdog", "Restored", "Snapshot", "API error", "Post-copy", "Post-copy Error"],
            ["Unpaused", "Migrated", "Snapshot", "Post-copy", "Post-copy Error"],
            ["Shutdown", "Destroyed", "Crashed", "Migrated", "Saved", "Failed", "Snapshot"],
            ["Finished", "Finished after guest request", "Finished after host request"], ["Memory", "Disk"], ["Panicked"],
        ]
        guard event >= 0, Int(event) < names.count else { return "unknown" }
        let detailName = detail >= 0 && Int(detail) < details[Int(event)].count ? details[Int(event)][Int(detail)] : "unknown"
        return "\(names[Int(event)]) \(detailName)"
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}

import ArgumentParser
import CorralClient
import CorralProtocol
import Foundation
import XDR

/// A long job's progress while its call runs: the domain's job statistics, polled on the same
/// connection, drawn as a bar on a terminal (plain lines with `--verbose` otherwise).
enum JobProgress {
    /// The job's total bytes in its statistics.
    static func total(of parameters: [TypedParameter]) -> UInt64? {
        for parameter in parameters where parameter.field == "memory_total" {
            if case .unsignedLongLong(let value) = parameter.value { return value }
        }
        return nil
    }

    /// Runs `call`, showing the progress of the long job on the domain `name` meanwhile.
    static func following<T: Sendable>(
        _ connection: CorralConnection, domain name: String, label: String, verbose: Bool, _ call: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let watcher = Task {
            var bar: ProgressBar?
            var last: UInt64 = 0
            var first = true
            let started = ContinuousClock.now
            while !Task.isCancelled {
                // Often at first (a short job may be over in a fraction of a second), then five
                // times a second.
                if !first { try? await Task.sleep(for: .milliseconds(ContinuousClock.now - started < .seconds(1) ? 25 : 200)) }
                first = false
                guard let handle = try? await connection.lookupDomain(name, byID: false, byUUID: false),
                    let stats = try? await connection.call(Remote.DomainGetJobStats.self, .init(dom: handle, flags: 0)),
                    stats.type == 1
                else { continue }
                var done: UInt64 = 0
                for parameter in stats.params {
                    if parameter.field == "memory_processed", case .unsignedLongLong(let value) = parameter.value { done = value }
                }
                guard let total = total(of: stats.params), total > 0 else { continue }
                if bar == nil { bar = ProgressBar(label: label, total: total, lines: verbose) }
                last = done
                bar?.update(done)
            }
            return (bar, last)
        }
        do {
            let result = try await call()
            watcher.cancel()
            let (bar, last) = await watcher.value
            if let bar {
                bar.finish(last)
            } else if let handle = try? await connection.lookupDomain(name, byID: false, byUUID: false),
                let stats = try? await connection.call(Remote.DomainGetJobStats.self, .init(dom: handle, flags: 1 | 2)),
                let total = total(of: stats.params), total > 0 {
                // Over before the first look: the finished job's figures (kept for `--completed`).
                ProgressBar(label: label, total: total, lines: verbose).finish(total)
            } else {
                // Over before the first look, and its statistics gone with the domain (a
                // transient guest that migrated away): it finished all the same.
                ProgressBar(label: label, total: 1, lines: verbose).finish(1)
            }
            return result
        } catch {
            watcher.cancel()
            throw error
        }
    }
}

/// The save, restore and managed save options every such command takes, as the call's flags.
struct SaveModeOptions: ParsableArguments {
    @Flag(help: "Run the guest after its restore.") var running = false
    @Flag(help: "Leave the guest paused after its restore.") var paused = false
    @Flag(name: .customLong("bypass-cache"), help: "Keep the image out of the page cache (durable on disk).") var bypassCache = false
    @Flag(help: "Show progress as lines when not on a terminal.") var verbose = false

    /// `VIR_DOMAIN_SAVE_BYPASS_CACHE`, `_RUNNING`, `_PAUSED`.
    var flags: UInt32 { (bypassCache ? 1 : 0) | (running ? 2 : 0) | (paused ? 4 : 0) }
}

extension Corral {
    /// `corral save DOMAIN FILE [--running|--paused] [--xml FILE] [--bypass-cache] [--verbose]`.
    struct Save: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Save a running domain's state to a file and stop it.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Argument(help: "The file to save to.") var file: String
        @Option(help: "A replacement domain XML for the image.") var xml: String?
        @OptionGroup var mode: SaveModeOptions

        func run() async throws {
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            let replacement = try xml.map { try ConfigInput.read($0) }
            let flags = mode.flags
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                try await JobProgress.following(connection, domain: handle.name, label: "save", verbose: mode.verbose) {
                    _ = try await connection.call(Remote.DomainSaveFlags.self, .init(dom: handle, to: path, dxml: replacement, flags: flags))
                }
                print("\nDomain '\(handle.name)' saved to \(file)\n")
            }
        }
    }

    /// `corral restore FILE [--running|--paused] [--xml FILE] [--verbose]`.
    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restore a domain from a saved state file.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The saved state file.") var file: String
        @Option(help: "A replacement domain XML.") var xml: String?
        @OptionGroup var mode: SaveModeOptions

        func run() async throws {
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            let replacement = try xml.map { try ConfigInput.read($0) }
            let flags = mode.flags
            try await connection.withConnection { connection in
                let imageXML = try await connection.call(Remote.DomainSaveImageGetXMLDesc.self, .init(file: path, flags: 0)).xml
                let name = Self.name(in: imageXML) ?? ""
                try await JobProgress.following(connection, domain: name, label: "restore", verbose: mode.verbose) {
                    _ = try await connection.call(Remote.DomainRestoreFlags.self, .init(from: path, dxml: replacement, flags: flags))
                }
                print("\nDomain restored from \(file)\n")
            }
        }

        /// The `<name>` of a domain XML.
        static func name(in xml: String) -> String? {
            guard let start = xml.range(of: "<name>"), let end = xml.range(of: "</name>", range: start.upperBound..<xml.endIndex) else { return nil }
            return String(xml[start.upperBound..<end.lowerBound])
        }
    }

    /// `corral managedsave DOMAIN [--running|--paused] [--verbose]`.
    struct ManagedSave: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "managedsave", abstract: "Save a domain's state for its next start, and stop it.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @OptionGroup var mode: SaveModeOptions

        func run() async throws {
            let flags = mode.flags
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                try await JobProgress.following(connection, domain: handle.name, label: "managedsave", verbose: mode.verbose) {
                    _ = try await connection.call(Remote.DomainManagedSave.self, .init(dom: handle, flags: flags))
                }
                print("\nDomain '\(handle.name)' state saved by libvirt\n")
            }
        }
    }

    /// `corral dump DOMAIN FILE [--memory-only [--format F]] [--live|--crash|--reset] [--bypass-cache] [--verbose]`.
    struct Dump: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dump a running domain's memory (core dump) to a file.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Argument(help: "The file to dump to.") var file: String
        @Flag(name: .customLong("memory-only"), help: "An ELF (or --format) core of the guest's memory.") var memoryOnly = false
        @Option(help: "With --memory-only: elf, kdump-zlib, kdump-lzo, kdump-snappy or win-dmp.") var format: String = "elf"
        @Flag(help: "Do not pause the guest meanwhile.") var live = false
        @Flag(help: "Leave the guest shut off as crashed afterwards.") var crash = false
        @Flag(help: "Reset the guest afterwards.") var reset = false
        @Flag(name: .customLong("bypass-cache"), help: "Keep the file out of the page cache (durable on disk).") var bypassCache = false
        @Flag(help: "Show progress as lines when not on a terminal.") var verbose = false

        static let formats = ["elf": UInt32(0), "kdump-zlib": 1, "kdump-lzo": 2, "kdump-snappy": 3, "win-dmp": 4]

        func run() async throws {
            guard let dumpFormat = Self.formats[format] else { throw CLIError(message: "unknown dump format '\(format)'") }
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            let flags: UInt32 = (crash ? 1 : 0) | (live ? 2 : 0) | (bypassCache ? 4 : 0) | (reset ? 8 : 0) | (memoryOnly ? 16 : 0)
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                try await JobProgress.following(connection, domain: handle.name, label: "dump", verbose: verbose) {
                    _ = try await connection.call(Remote.DomainCoreDumpWithFormat.self, .init(dom: handle, to: path, dumpformat: dumpFormat, flags: flags))
                }
                print("\nDomain '\(handle.name)' dumped to \(file)\n")
            }
        }
    }

    /// `corral managedsave-remove DOMAIN`.
    struct ManagedSaveRemove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "managedsave-remove", abstract: "Remove a domain's managed save image.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                guard try await connection.call(Remote.DomainHasManagedSaveImage.self, .init(dom: handle, flags: 0)).result != 0 else {
                    print("Domain '\(handle.name)' has no manage save image; removal skipped")
                    return
                }
                _ = try await connection.call(Remote.DomainManagedSaveRemove.self, .init(dom: handle, flags: 0))
                print("Removed managedsave image for domain '\(handle.name)'")
            }
        }
    }

    /// `corral domjobinfo DOMAIN [--completed]`, in virsh's layout.
    struct DomJobInfo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "domjobinfo", abstract: "Print a domain's long job and its progress.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Flag(help: "The last job that finished.") var completed = false

        static let typeNames = ["None", "Bounded", "Unbounded", "Completed", "Failed", "Cancelled"]
        static let operationNames = [0: "Unknown", 1: "Start", 2: "Save", 3: "Restore", 4: "Incoming migration", 5: "Outgoing migration",
                                     6: "Snapshot", 7: "Snapshot revert", 8: "Dump", 9: "Backup", 10: "Snapshot delete"]

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                let stats = try await connection.call(Remote.DomainGetJobStats.self, .init(dom: handle, flags: completed ? 1 : 0))
                print(Self.render(type: stats.type, parameters: stats.params), terminator: "")
            }
        }

        /// virsh's table of the statistics.
        static func render(type: Int32, parameters: [TypedParameter]) -> String {
            func row(_ label: String, _ value: String) -> String { (label + ":").padding(toLength: 18, withPad: " ", startingAt: 0) + value + "\n" }
            var text = row("Job type", typeNames.indices.contains(Int(type)) ? typeNames[Int(type)] : "\(type)")
            guard type != 0 else { return text + "\n" }
            func number(_ field: String) -> UInt64? {
                for parameter in parameters where parameter.field == field {
                    switch parameter.value {
                    case .unsignedLongLong(let value): return value
                    case .int(let value): return UInt64(max(0, value))
                    default: return nil
                    }
                }
                return nil
            }
            func mebibytes(_ bytes: UInt64) -> String { String(format: "%.3f MiB", Double(bytes) / 1_048_576) }
            if let operation = number("operation") { text += row("Operation", operationNames[Int(operation)] ?? "\(operation)") }
            if let elapsed = number("time_elapsed") { text += row("Time elapsed", "\(elapsed)         ms") }
            for (field, label) in [("data_processed", "Data processed"), ("data_remaining", "Data remaining"), ("data_total", "Data total"),
                                   ("memory_processed", "Memory processed"), ("memory_remaining", "Memory remaining"), ("memory_total", "Memory total")] {
                if let value = number(field) { text += row(label, mebibytes(value)) }
            }
            if let rate = number("memory_bps") { text += row("Memory bandwidth", mebibytes(rate) + "/s") }
            for parameter in parameters where parameter.field == "errmsg" {
                if case .string(let message) = parameter.value { text += row("Error message", message) }
            }
            return text + "\n"
        }
    }

    /// `corral domjobabort DOMAIN`.
    struct DomJobAbort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "domjobabort", abstract: "Abort a domain's long job.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                _ = try await connection.call(Remote.DomainAbortJob.self, .init(dom: handle))
            }
        }
    }
}

import ArgumentParser
import Foundation
import Logging
import QEMUConfig
import QEMUProbe

/// Reading a FILE argument, where `-` means standard input.
enum ConfigInput {
    static func read(_ path: String) throws -> String {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw CLIError(message: "Could not open '\(path)': \(FileManager.default.fileExists(atPath: path) ? "Is a directory or unreadable" : "No such file or directory")")
            }
            data = contents
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIError(message: "'\(path)' is not UTF-8 text")
        }
        return text
    }

    /// The configuration-file groups `emulator` accepts, probed once and cached by the binary's
    /// identity; QEMU 7.2's list when the emulator cannot be asked.
    static func knownGroups(emulator: String) -> Set<String> {
        let cache = (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/corral"
        var logger = Logger(label: "corral")
        logger.logLevel = .error
        let capabilities = EmulatorProbe.probe(path: emulator, cacheDirectory: cache, logger: logger)
        return capabilities.configGroups.isEmpty ? QEMUConfigRules.qemu72Groups : capabilities.configGroups
    }

    static func report(_ error: QEMUConfigError, file: String) -> CLIError {
        CLIError(message: error.diagnostics.map { diagnostic in
            diagnostic.line > 0 ? "\(file):\(diagnostic.line): \(diagnostic.severity.rawValue): \(diagnostic.message)" : diagnostic.message
        }.joined(separator: "\nerror: "))
    }
}

/// `--emulator PATH` for commands that check groups against an emulator.
struct EmulatorOption: ParsableArguments {
    @Option(help: "The QEMU binary whose configuration groups are accepted.")
    var emulator: String = ProcessInfo.processInfo.environment["CORRAL_EMULATOR"] ?? "/usr/bin/qemu-system-x86_64"
}

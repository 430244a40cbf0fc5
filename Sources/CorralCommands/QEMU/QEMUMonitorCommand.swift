import ArgumentParser
import CorralClient
import CorralQEMU
import Foundation

extension Corral {
    /// `corral qemu-monitor-command DOMAIN [--hmp] [--pretty] [--return-value] CMD…`.
    struct QEMUMonitorCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qemu-monitor-command", abstract: "Send a QMP (or, with --hmp, an HMP) command to a running guest's monitor.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Flag(help: "The command is an HMP command line.") var hmp = false
        @Flag(help: "Pretty-print the JSON reply.") var pretty = false
        @Flag(name: .customLong("return-value"), help: "Print only the reply's return value.") var returnValue = false
        @Argument(help: "The command (words are joined with spaces).") var command: [String]

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                let result = try await connection.qemuMonitorCommand(handle, command.joined(separator: " "), hmp: hmp)
                guard !hmp, pretty || returnValue, let data = result.data(using: .utf8),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                else {
                    print(result)
                    return
                }
                if let error = object["error"] as? [String: Any], returnValue {
                    throw CLIError(message: "\(error["class"] ?? "error"): \(error["desc"] ?? "")")
                }
                let value: Any = returnValue ? (object["return"] ?? NSNull()) : object
                let options: JSONSerialization.WritingOptions = pretty ? [.prettyPrinted, .sortedKeys, .fragmentsAllowed] : [.sortedKeys, .fragmentsAllowed]
                print(String(decoding: try JSONSerialization.data(withJSONObject: value, options: options), as: UTF8.self))
            }
        }
    }
}

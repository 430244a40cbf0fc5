import ArgumentParser
import CorralClient
import CorralQEMU
import Foundation

extension Corral {
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
}

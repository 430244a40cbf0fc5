import ArgumentParser
import CorralClient

extension Corral {
    /// `corral uri`: the connection URI (answered locally, as virsh does).
    struct URI: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "uri", abstract: "Print the connection URI.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await connection.withConnection { connection in print(connection.uri.original) }
        }
    }

    /// `corral hostname`: the daemon host's name.
    struct Hostname: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the hypervisor host's name.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await connection.withConnection { connection in print(try await connection.hostname()) }
        }
    }

    /// `corral capabilities`: the capabilities XML.
    struct Capabilities: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the capabilities of the hypervisor and host.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await connection.withConnection { connection in print(try await connection.capabilities()) }
        }
    }

    /// `corral nodeinfo`: host CPU and memory, in virsh's layout.
    struct NodeInfo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "nodeinfo", abstract: "Print host CPU and memory information.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await connection.withConnection { connection in
                let info = try await connection.nodeInfo()
                let lines: [(String, String)] = [
                    ("CPU model:", info.model), ("CPU(s):", "\(info.cpus)"), ("CPU frequency:", "\(info.mhz) MHz"),
                    ("CPU socket(s):", "\(info.sockets)"), ("Core(s) per socket:", "\(info.cores)"),
                    ("Thread(s) per core:", "\(info.threads)"), ("NUMA cell(s):", "\(info.nodes)"),
                    ("Memory size:", "\(info.memoryKiB) KiB"),
                ]
                for (label, value) in lines { print(label.padding(to: 21) + value) }
            }
        }
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

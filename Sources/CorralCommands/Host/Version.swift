import ArgumentParser
import CorralClient

extension Corral {
    /// `corral version`: the library, and the daemon's hypervisor (and, with `--daemon`, the daemon).
    struct Version: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the library, hypervisor and daemon versions.")

        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Also report the daemon's version.") var daemon = false

        func run() async throws {
            try await connection.withConnection { connection in
                print("Compiled against library: corral \(CorralVersion.string)")
                print("Using library: corral \(CorralVersion.string)")
                print("Using API: QEMU \(CorralVersion.protocolVersion)")
                let type = try await connection.hypervisorType()
                do {
                    let version = try await connection.hypervisorVersion()
                    print("Running hypervisor: \(type) \(formatVersion(version))")
                } catch let error as CorralClientError where error.isNotSupported {
                    // virsh skips the line when the daemon cannot say.
                }
                if daemon {
                    print("Running against daemon: \(formatVersion(try await connection.libraryVersion()))")
                }
            }
        }
    }
}

/// Corral's own version numbers.
enum CorralVersion {
    static let string = "0.1.0"
    /// The libvirt protocol revision Corral speaks.
    static let protocolVersion = "9.0.0"
}

/// libvirt's version encoding (major × 1,000,000 + minor × 1,000 + micro) as `major.minor.micro`.
func formatVersion(_ version: UInt64) -> String {
    "\(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)"
}

import ArgumentParser
import CorralClient
import CorralProtocol
import CorralQEMU
import Foundation
import POSIXSupport
import QMP

extension Corral {
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
            }
        }
    }
}

import ArgumentParser
import CorralClient
import CorralProtocol
import Foundation

extension Corral {
    /// `corral migrate DOMAIN DEST-URI [--live] [--p2p] …`: virsh's options, with a progress bar.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Migrate a running domain to another host (virsh migrate's options).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Argument(help: "The destination's connection URI.") var destination: String
        @Flag(help: "Live migration: the guest runs while its memory is copied.") var live = false
        @Flag(name: .customLong("p2p"), help: "Peer to peer: the source daemon connects to the destination itself.") var peerToPeer = false
        @Flag(help: "Tunnel the migration stream through the daemons' connection (with --p2p).") var tunnelled = false
        @Flag(help: "Keep the domain defined on the destination.") var persistent = false
        @Flag(name: .customLong("undefinesource"), help: "Undefine the domain on the source.") var undefineSource = false
        @Flag(help: "Leave the domain paused on the destination.") var suspend = false
        @Flag(help: "Compress repeated memory pages (xbzrle).") var compressed = false
        @Flag(name: .customLong("auto-converge"), help: "Slow the guest's vCPUs down if the migration does not converge.") var autoConverge = false
        @Flag(help: "Allow switching to post-copy (corral migrate-postcopy).") var postcopy = false
        @Flag(help: "Use several connections for the memory.") var parallel = false
        @Option(name: .customLong("parallel-connections"), help: "How many connections with --parallel.") var parallelConnections: Int32?
        @Flag(help: "Migrate even if libvirt's safety checks would refuse.") var unsafe = false
        @Option(help: "The definition the destination runs (a file).") var xml: String?
        @Option(name: .customLong("persistent-xml"), help: "The definition the destination keeps (a file).") var persistentXML: String?
        @Option(help: "The domain's name on the destination.") var dname: String?
        @Option(name: .customLong("migrateuri"), help: "Where QEMU sends the stream (tcp:HOST[:PORT]).") var migrateURI: String?
        @Option(name: .customLong("listen-address"), help: "Where the destination's QEMU listens.") var listenAddress: String?
        @Option(help: "Bandwidth limit in MiB/s.") var bandwidth: UInt64?
        @Option(help: "Seconds after which the guest is suspended to finish the migration (or switched to post-copy with --postcopy).") var timeout: Int?
        @Flag(help: "Show progress as lines when not on a terminal.") var verbose = false

        var flags: UInt32 {
            var flags: UInt32 = 0
            if live { flags |= 1 }
            if peerToPeer { flags |= 2 }
            if tunnelled { flags |= 4 }
            if persistent { flags |= 8 }
            if undefineSource { flags |= 16 }
            if suspend { flags |= 32 }
            if unsafe { flags |= 512 }
            if compressed { flags |= 2048 }
            if autoConverge { flags |= 8192 }
            if postcopy { flags |= 1 << 15 }
            if parallel { flags |= 1 << 17 }
            return flags
        }

        func parameters() throws -> [TypedParameter] {
            var list: [TypedParameter] = []
            if let xml { list.append(TypedParameter("destination_xml", .string(try ConfigInput.read(xml)))) }
            if let persistentXML { list.append(TypedParameter("persistent_xml", .string(try ConfigInput.read(persistentXML)))) }
            if let dname { list.append(TypedParameter("destination_name", .string(dname))) }
            if let migrateURI { list.append(TypedParameter("migrate_uri", .string(migrateURI))) }
            if let listenAddress { list.append(TypedParameter("listen_address", .string(listenAddress))) }
            if let bandwidth { list.append(TypedParameter("bandwidth", .unsignedLongLong(bandwidth))) }
            if let parallelConnections { list.append(TypedParameter("parallel.connections", .int(parallelConnections))) }
            return list
        }

        func validate() throws {
            if tunnelled && !peerToPeer { throw ValidationError("--tunnelled needs --p2p") }
            if let timeout, timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
        }

        func run() async throws {
            let parameters = try parameters()
            let flags = flags
            let destination = destination
            try await connection.withConnection { source in
                let handle = try await source.lookupDomain(domain)
                let deadline = timeout.map { timeout in
                    Task {
                        try await Task.sleep(for: .seconds(timeout))
                        // libvirt's --timeout: finish by pausing the guest, or switch to post-copy.
                        if flags & (1 << 15) != 0 {
                            _ = try? await source.call(Remote.DomainMigrateStartPostCopy.self, .init(dom: handle, flags: 0))
                        } else {
                            _ = try? await source.call(Remote.DomainSuspend.self, .init(dom: handle))
                        }
                    }
                }
                defer { deadline?.cancel() }
                if flags & 2 != 0 {
                    try await JobProgress.following(source, domain: handle.name, label: "migrate", verbose: verbose) {
                        try await source.migrate(handle, toURI: destination, parameters: parameters, flags: flags)
                    }
                } else {
                    try await CorralConnection.withConnection(to: destination) { target in
                        _ = try await JobProgress.following(source, domain: handle.name, label: "migrate", verbose: verbose) {
                            try await source.migrate(handle, to: target, parameters: parameters, flags: flags)
                        }
                    }
                }
                print("\nDomain '\(handle.name)' migrated to \(destination)\n")
            }
        }
    }
}

import ArgumentParser
import CorralClient
import CorralProtocol
import Foundation
import NIOCore

extension Corral {
    /// `corral pool-list`: the storage pools, in virsh's layout.
    struct PoolList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pool-list", abstract: "List storage pools.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Include inactive pools.") var all = false

        func run() async throws {
            try await connection.withConnection { connection in
                var table = TextTable(header: ["Name", "State", "Autostart"])
                for entry in try await connection.storagePools() where all || entry.active {
                    table.rows.append([entry.pool.name, entry.active ? "active" : "inactive", entry.autostart ? "yes" : "no"])
                }
                print(table.render(), terminator: "")
            }
        }
    }

    /// `corral vol-list POOL`: a pool's volumes and paths.
    struct VolList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "vol-list", abstract: "List the volumes of a storage pool.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The pool.") var pool: String

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.storagePool(named: pool)
                var table = TextTable(header: ["Name", "Path"])
                for volume in try await connection.storageVolumes(in: handle) {
                    table.rows.append([volume.name, try await connection.path(of: volume)])
                }
                print(table.render(), terminator: "")
            }
        }
    }

    /// `corral vol-upload VOL FILE`: a local file into a volume, with a progress bar.
    struct VolUpload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "vol-upload", abstract: "Upload a file into a volume.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The volume (name with --pool, or path or key).") var vol: String
        @Argument(help: "The local file.") var file: String
        @Option(help: "The volume's pool.") var pool: String?
        @Option(help: "Where in the volume to start writing.") var offset: UInt64 = 0
        @Option(help: "How much to write at most (0: all of the file).") var length: UInt64 = 0
        @Flag(help: "Send the file's holes as holes.") var sparse = false

        func run() async throws {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CLIError(message: "cannot read \(file): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let size = UInt64(max(0, lseek(fd, 0, SEEK_END)))
            let total = length > 0 ? min(length, size) : size
            try await connection.withConnection { connection in
                let volume = try await connection.storageVolume(vol, pool: pool)
                let stream = try await connection.upload(to: volume, offset: offset, length: length, sparse: sparse)
                let progress = ProgressBar(label: "vol-upload", total: total)
                do {
                    let sent = try await stream.sendFile(fd, length: total, sparse: sparse) { progress.update($0) }
                    try await stream.finish()
                    progress.finish(sent)
                } catch {
                    await stream.abort()
                    throw error
                }
            }
        }
    }

    /// `corral vol-download VOL FILE`: a volume into a local file, with a progress bar.
    struct VolDownload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "vol-download", abstract: "Download a volume into a file.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The volume (name with --pool, or path or key).") var vol: String
        @Argument(help: "The local file.") var file: String
        @Option(help: "The volume's pool.") var pool: String?
        @Option(help: "Where in the volume to start reading.") var offset: UInt64 = 0
        @Option(help: "How much to read at most (0: to its end).") var length: UInt64 = 0
        @Flag(help: "Keep the volume's holes as holes in the file.") var sparse = false

        func run() async throws {
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw CLIError(message: "cannot create \(file): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            try await connection.withConnection { connection in
                let volume = try await connection.storageVolume(vol, pool: pool)
                let capacity = try await connection.info(of: volume, physical: true).allocation
                let available = capacity > offset ? capacity - offset : 0
                let progress = ProgressBar(label: "vol-download", total: length > 0 ? min(length, available) : available)
                let stream = try await connection.download(from: volume, offset: offset, length: length, sparse: sparse)
                do {
                    let received = try await stream.receiveFile(into: fd) { progress.update($0) }
                    try await stream.finish()
                    progress.finish(received)
                } catch {
                    await stream.abort()
                    throw error
                }
            }
        }
    }

    /// `corral vol-clone VOL NEWNAME`: a copy of a volume in its pool, with a progress bar that
    /// follows the new volume's allocation.
    struct VolClone: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "vol-clone", abstract: "Clone a volume.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The volume (name with --pool, or path or key).") var vol: String
        @Argument(help: "The new volume's name.") var newname: String
        @Option(help: "The volume's pool.") var pool: String?
        @Flag(name: .customLong("prealloc-metadata"), help: "Preallocate qcow2 metadata.") var preallocateMetadata = false

        func run() async throws {
            try await connection.withConnection { connection in
                let source = try await connection.storageVolume(vol, pool: pool)
                let poolHandle = try await connection.storagePool(named: source.pool)
                var xml = try await connection.xml(of: source)
                // The source's definition with the new name, as virsh's vol-clone does.
                if let start = xml.range(of: "<name>"), let end = xml.range(of: "</name>", range: start.upperBound..<xml.endIndex) {
                    xml.replaceSubrange(start.upperBound..<end.lowerBound, with: Self.escape(newname))
                }
                let sourceInfo = try await connection.info(of: source)
                let progress = ProgressBar(label: "vol-clone", total: sourceInfo.allocation)
                let flags: UInt32 = preallocateMetadata ? 1 : 0
                let cloneXML = xml, name = newname, poolName = source.pool
                let clone = Task { try await connection.cloneVolume(source, into: poolHandle, xml: cloneXML, flags: flags) }
                // While the daemon copies, the new volume is listed and its allocation grows.
                let watcher = Task {
                    while !Task.isCancelled {
                        if let handle = try? await connection.storageVolume(name, pool: poolName),
                            let info = try? await connection.info(of: handle)
                        {
                            progress.update(info.allocation)
                        }
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                }
                defer { watcher.cancel() }
                _ = try await clone.value
                watcher.cancel()
                progress.finish(sourceInfo.allocation)
                print("Vol \(newname) cloned from \(source.name)")
            }
        }

        static func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
    }
}

import Foundation

/// Persistent definitions, one file per object: domains in `state-dir/domains/NAME.xml` with
/// autostart markers in `state-dir/autostart/NAME`; storage pools in `state-dir/storage/NAME.xml`
/// with markers in `state-dir/storage/autostart/NAME`.
///
/// Every write is atomic: the text goes to a temporary file in the same directory, which is
/// flushed to disk, renamed over the old file, and the directory flushed, so a crash leaves
/// either the old definition or the new one, never half of one. The domains' store puts a
/// ``DefinitionJournal`` in front of its files instead: a change is durable once journaled,
/// and reaches its file in the background.
struct DefinitionStore: Sendable {
    let directory: String
    let autostartDirectory: String
    /// The write-ahead journal definitions go through, when the store has one (the domains'):
    /// a change is durable once journaled, and its file follows in the background.
    let journal: DefinitionJournal?

    /// The store of domain definitions, journaled.
    init(stateDirectory: String) throws {
        try self.init(directory: stateDirectory + "/domains", autostartDirectory: stateDirectory + "/autostart", journaled: true)
    }

    /// A store in `directory`, with autostart markers in `autostartDirectory`; with `journaled`,
    /// changes go through a ``DefinitionJournal`` in `directory` (replayed here first; see it
    /// for `journalCapacity` and `materializes`).
    init(
        directory: String, autostartDirectory: String, journaled: Bool = false, journalCapacity: Int = DefinitionJournal.defaultCapacity,
        materializes: Bool = true
    ) throws {
        self.directory = directory
        self.autostartDirectory = autostartDirectory
        for path in [directory, autostartDirectory] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        journal = journaled
            ? try DefinitionJournal(
                directory: directory, capacity: journalCapacity, path: { [directory] name in Self.path(in: directory, for: name) }, materializes: materializes)
            : nil
    }

    func path(for name: String) -> String { Self.path(in: directory, for: name) }

    /// Where the definition `name` of a store in `directory` lives.
    static func path(in directory: String, for name: String) -> String { directory + "/" + name + ".xml" }

    /// Writes a definition atomically.
    func write(name: String, xml: String) throws(StoreError) {
        if let journal {
            try journal.record(.write(name: name, contents: xml))
        } else {
            try Self.atomicWrite(path: path(for: name), contents: Array(xml.utf8))
        }
    }

    /// Writes a definition durably from the calling event loop, without a thread hop, when its
    /// journal can (see ``DefinitionJournal/recordFromEventLoop(_:)``); false, with nothing
    /// written, when it is to be written with ``write(name:xml:)`` on the thread pool.
    func writeFromEventLoop(name: String, xml: String) async throws(StoreError) -> Bool {
        guard let journal else { return false }
        return try await journal.recordFromEventLoop(.write(name: name, contents: xml))
    }

    /// Removes a definition (and its autostart marker).
    func remove(name: String) throws(StoreError) {
        if let journal {
            try journal.record(.remove(name: name))
            unlink(autostartDirectory + "/" + name)
            return
        }
        if unlink(path(for: name)) != 0 && errno != ENOENT {
            throw StoreError(message: "cannot remove \(path(for: name)): \(String(cString: strerror(errno)))")
        }
        unlink(autostartDirectory + "/" + name)
        Self.syncDirectory(directory)
    }

    /// Turns the autostart marker on or off.
    func setAutostart(name: String, _ on: Bool) throws(StoreError) {
        let marker = autostartDirectory + "/" + name
        if on {
            try Self.atomicWrite(path: marker, contents: Array(path(for: name).utf8))
        } else if unlink(marker) != 0 && errno != ENOENT {
            throw StoreError(message: "cannot remove \(marker): \(String(cString: strerror(errno)))")
        }
    }

    func isAutostart(name: String) -> Bool {
        access(autostartDirectory + "/" + name, F_OK) == 0
    }

    /// Every stored definition, as (file path, text), skipping temporary files.
    func loadAll() -> [(path: String, xml: String?)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".xml") && !$0.hasPrefix(".") }.sorted().map { name in
            let path = directory + "/" + name
            return (path, FileManager.default.contents(atPath: path).flatMap { String(data: $0, encoding: .utf8) })
        }
    }

    /// Writes `contents` to `path` atomically (temporary file, rename). With `durable` (the
    /// default, for definitions) the file and its directory are flushed to disk too; runtime
    /// files in the run directory (a tmpfs in production) skip that.
    static func atomicWrite(path: String, contents: [UInt8], durable: Bool = true) throws(StoreError) {
        try replaceFile(path: path, contents: contents, flush: durable)
        if durable { syncDirectory((path as NSString).deletingLastPathComponent) }
    }

    /// Replaces `path` with `contents` through a temporary file in the same directory, renamed
    /// over it; with `flush` the file is flushed before the rename (its directory is not).
    static func replaceFile(path: String, contents: [UInt8], flush: Bool) throws(StoreError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = directory + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(message: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        do throws(StoreError) {
            try writeAll(contents, to: fd, at: 0, file: path)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        if flush && fsync(fd) != 0 {
            let message = String(cString: strerror(errno))
            close(fd)
            unlink(temporary)
            throw StoreError(message: "cannot write \(path): \(message)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw StoreError(message: "cannot write \(path): \(message)")
        }
    }

    /// Writes all of `bytes` at `offset` of `fd` (the file `file`, for the error).
    static func writeAll(_ bytes: [UInt8], to fd: Int32, at offset: Int, file: String) throws(StoreError) {
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset + written)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError(message: "cannot write \(file): \(String(cString: strerror(errno)))")
            }
            written += n
        }
    }

    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// A definition could not be written or removed.
struct StoreError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

import DomainXML
import Synchronization
import Foundation
import XMLTree

/// Snapshot metadata, one file per domain: `state-dir/snapshots/NAME.xml` holds the domain's
/// whole ``SnapshotTree`` (every snapshot and which is current).
///
/// One file, written atomically (``DefinitionStore/atomicWrite(path:contents:durable:)``), rather
/// than libvirt's file per snapshot: a change touches several snapshots at once (a new current,
/// children moved to a deleted snapshot's parent, a subtree deleted), and a daemon killed in the
/// middle must leave the old tree or the new one, never a mix of both.
struct SnapshotStore: Sendable {
    let directory: String

    /// How large a tree's file may be read (each snapshot holds a domain definition).
    static let limits = XMLParseLimits(maximumBytes: 256 << 20, maximumDepth: 66, maximumAttributes: 64)

    /// The domains that have a file here, as this store wrote and removed them (listed at
    /// start): a new definition learns without a system call whether one is to be removed.
    private let files: SnapshotFileIndex

    init(stateDirectory: String) throws {
        directory = stateDirectory + "/snapshots"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".xml") }.map { String($0.dropLast(4)) }
        files = SnapshotFileIndex(Set(names))
    }

    /// Whether `domain` may have a file here (one this store has not removed).
    func mayHaveFile(domain: String) -> Bool { files.contains(domain) }

    func path(for domain: String) -> String { directory + "/" + domain + ".xml" }

    /// Writes `tree` for `domain` (an empty tree removes the file).
    func write(_ tree: SnapshotTree, domain: String) throws(StoreError) {
        if tree.isEmpty {
            try remove(domain: domain)
            return
        }
        files.insert(domain)
        try DefinitionStore.atomicWrite(path: path(for: domain), contents: Array(tree.storedDocument().utf8))
    }

    /// Moves an unreadable file aside (`NAME.xml.unreadable`), so that the next write does not
    /// destroy what an operator may still recover.
    func setAside(domain: String) {
        if rename(path(for: domain), path(for: domain) + ".unreadable") == 0 { files.remove(domain) }
    }

    /// Removes `domain`'s file; nothing to do (and nothing flushed) when there is none.
    func remove(domain: String) throws(StoreError) {
        if unlink(path(for: domain)) == 0 {
            DefinitionStore.syncDirectory(directory)
        } else if errno != ENOENT {
            throw StoreError(message: "cannot remove \(path(for: domain)): \(String(cString: strerror(errno)))")
        }
        files.remove(domain)
    }

    /// The tree stored for `domain`: empty when there is none; a failure when the file cannot
    /// be read or parsed.
    func read(domain: String) -> Result<SnapshotTree, StoreError> {
        let path = path(for: domain)
        guard let data = FileManager.default.contents(atPath: path) else {
            return access(path, F_OK) == 0 ? .failure(StoreError(message: "cannot read \(path)")) : .success(SnapshotTree())
        }
        do throws(DomainXMLError) {
            return .success(try SnapshotTree(storedDocument: String(decoding: data, as: UTF8.self), limits: Self.limits))
        } catch {
            return .failure(StoreError(message: "\(path): \(error)"))
        }
    }
}

/// The names of a ``SnapshotStore``'s files, shared by its copies.
final class SnapshotFileIndex: Sendable {
    private let names: Mutex<Set<String>>

    init(_ names: Set<String>) { self.names = Mutex(names) }

    func contains(_ name: String) -> Bool { names.withLock { $0.contains(name) } }
    func insert(_ name: String) { names.withLock { _ = $0.insert(name) } }
    func remove(_ name: String) { names.withLock { _ = $0.remove(name) } }
}

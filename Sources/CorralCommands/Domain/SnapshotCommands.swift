import ArgumentParser
import CorralClient
import CorralProtocol
import Foundation
import XMLTree

extension Corral {
    /// `corral snapshot-create-as DOMAIN [NAME]`: takes a snapshot, as `virsh snapshot-create-as`.
    struct SnapshotCreateAs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "snapshot-create-as", abstract: "Take a snapshot of a domain (internal with memory when it runs; --disk-only for qcow2 overlays).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Argument(help: "The snapshot's name (default: the time).") var name: String?
        @Option(help: "A description.") var description: String?
        @Flag(name: .customLong("disk-only"), help: "Only the disks, each in a new overlay.") var diskOnly = false
        @Flag(help: "Freeze the guest's file systems through its agent while the disks switch (with --disk-only).") var quiesce = false
        @Flag(help: "All disks switch or none does.") var atomic = false
        @Flag(name: .customLong("no-metadata"), help: "Take it without recording it.") var noMetadata = false
        @Flag(help: "Stop the guest once the snapshot is taken.") var halt = false
        @Option(name: .customLong("diskspec"), help: "DISK[,snapshot=internal|external|no][,driver=FORMAT][,file=PATH] (repeatable).")
        var diskSpecs: [String] = []

        func run() async throws {
            var flags: UInt32 = 0
            for (on, bit) in [(halt, 8), (diskOnly, 16), (quiesce, 64), (atomic, 128), (noMetadata, 4)] as [(Bool, UInt32)] where on { flags |= bit }
            let xml = try Self.document(name: name, description: description, diskSpecs: diskSpecs)
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                let reply = try await connection.call(Remote.DomainSnapshotCreateXML.self, .init(dom: handle, xmlDesc: xml, flags: flags))
                print("Domain snapshot \(reply.snap.name) created")
            }
        }

        /// The `<domainsnapshot>` request, every value escaped.
        static func document(name: String?, description: String?, diskSpecs: [String]) throws -> String {
            func escaped(_ text: String) -> String { XMLTreeWriter.escape(text, attribute: true) }
            var xml = "<domainsnapshot>"
            if let name { xml += "<name>\(escaped(name))</name>" }
            if let description { xml += "<description>\(escaped(description))</description>" }
            if !diskSpecs.isEmpty {
                xml += "<disks>"
                for spec in diskSpecs {
                    let parts = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                    guard let disk = parts.first, !disk.isEmpty else { throw ValidationError("a --diskspec needs a disk name") }
                    var values: [String: String] = [:]
                    for part in parts.dropFirst() {
                        guard let equals = part.firstIndex(of: "=") else { throw ValidationError("cannot parse '\(part)' in --diskspec \(spec)") }
                        values[String(part[..<equals])] = String(part[part.index(after: equals)...])
                    }
                    xml += "<disk name='\(escaped(disk))'"
                    if let snapshot = values["snapshot"] { xml += " snapshot='\(escaped(snapshot))'" }
                    xml += ">"
                    if let driver = values["driver"] { xml += "<driver type='\(escaped(driver))'/>" }
                    if let file = values["file"] { xml += "<source file='\(escaped(file))'/>" }
                    xml += "</disk>"
                }
                xml += "</disks>"
            }
            return xml + "</domainsnapshot>"
        }
    }

    /// `corral snapshot-list DOMAIN`: the snapshots with their times and states, or as a tree.
    struct SnapshotList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "snapshot-list", abstract: "List a domain's snapshots.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Flag(help: "Print only the names.") var name = false
        @Flag(help: "Print the parent of each.") var parent = false
        @Flag(help: "Print them as a tree.") var tree = false
        @Flag(help: "Only snapshots without a parent.") var roots = false
        @Flag(help: "Only snapshots without children.") var leaves = false

        func run() async throws {
            var flags: UInt32 = 0
            if roots { flags |= 1 }
            if leaves { flags |= 4 }
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                let listed = try await connection.call(Remote.DomainListAllSnapshots.self, .init(dom: handle, needResults: 1, flags: flags)).snapshots
                var entries: [(name: String, time: Int64, state: String, parent: String?)] = []
                for snapshot in listed {
                    let xml = try await connection.call(Remote.DomainSnapshotGetXMLDesc.self, .init(snap: snapshot, flags: 0)).xml
                    let document = try XMLTreeParser.parse(xml)
                    entries.append((
                        snapshot.name, Int64(document.element(named: "creationTime")?.text ?? "") ?? 0, document.element(named: "state")?.text ?? "",
                        document.element(named: "parent")?.element(named: "name")?.text))
                }
                entries.sort { $0.name < $1.name }  // virsh's order
                if tree {
                    print(Self.tree(entries.map { ($0.name, $0.parent) }), terminator: "")
                } else if name {
                    for entry in entries { print(entry.name) }
                } else {
                    var table = TextTable(header: parent ? ["Name", "Creation Time", "State", "Parent"] : ["Name", "Creation Time", "State"])
                    for entry in entries {
                        let row = [entry.name, Self.time(entry.time), entry.state]
                        table.rows.append(parent ? row + [entry.parent ?? ""] : row)
                    }
                    print(table.render(), terminator: "")
                }
            }
        }

        /// virsh's `--tree` drawing (its `vshTreePrint`): each root, then its children under
        /// `+- `, with `|` joining siblings still to come.
        static func tree(_ entries: [(name: String, parent: String?)]) -> String {
            var output = ""
            func draw(_ index: Int, last: Int, root: Bool, indent: inout String) {
                output += indent + (root ? "" : "+- ") + entries[index].name + "\n"
                if !root { indent += index == last ? "  " : "| " }
                let children = entries.indices.filter { entries[$0].parent == entries[index].name }
                if !children.isEmpty { output += indent + "  |\n" }
                indent += "  "
                for child in children { draw(child, last: children.last ?? -1, root: false, indent: &indent) }
                indent.removeLast(2)
                if children.isEmpty && index == last { output += indent + "\n" }
                if !root { indent.removeLast(2) }
            }
            let names = Set(entries.map(\.name))
            for index in entries.indices where entries[index].parent.map({ !names.contains($0) }) ?? true {
                var indent = ""
                draw(index, last: index, root: true, indent: &indent)
            }
            return output
        }

        static func time(_ seconds: Int64) -> String {
            var value = time_t(seconds)
            var parts = tm()
            localtime_r(&value, &parts)
            var buffer = [CChar](repeating: 0, count: 64)
            let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S %z", &parts)
            return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// `corral snapshot-revert DOMAIN NAME`.
    struct SnapshotRevert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "snapshot-revert", abstract: "Put a domain back to a snapshot.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Argument(help: "The snapshot.") var snapshot: String
        @Flag(help: "Run the guest afterwards, whatever the snapshot's state.") var running = false
        @Flag(help: "Leave the guest paused afterwards.") var paused = false
        @Flag(help: "Revert even where it is risky.") var force = false

        func run() async throws {
            var flags: UInt32 = 0
            for (on, bit) in [(running, 1), (paused, 2), (force, 4)] as [(Bool, UInt32)] where on { flags |= bit }
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                _ = try await connection.call(Remote.DomainRevertToSnapshot.self, .init(snap: RemoteDomainSnapshot(name: snapshot, dom: handle), flags: flags))
            }
        }
    }

    /// `corral snapshot-delete DOMAIN NAME`.
    struct SnapshotDelete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "snapshot-delete", abstract: "Delete a snapshot (its children move to its parent).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Argument(help: "The snapshot.") var snapshot: String
        @Flag(help: "Delete its descendants too.") var children = false
        @Flag(name: .customLong("children-only"), help: "Delete only its descendants.") var childrenOnly = false
        @Flag(help: "Delete only the metadata; the images keep the snapshot.") var metadata = false

        func run() async throws {
            var flags: UInt32 = 0
            for (on, bit) in [(children, 1), (metadata, 2), (childrenOnly, 4)] as [(Bool, UInt32)] where on { flags |= bit }
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                _ = try await connection.call(Remote.DomainSnapshotDelete.self, .init(snap: RemoteDomainSnapshot(name: snapshot, dom: handle), flags: flags))
                print(childrenOnly ? "Domain snapshot \(snapshot) children deleted" : "Domain snapshot \(snapshot) deleted")
            }
        }
    }

    /// `corral snapshot-dumpxml DOMAIN NAME`.
    struct SnapshotDumpXML: AsyncParsableCommand, PlainOutputCommand {
        static let configuration = CommandConfiguration(commandName: "snapshot-dumpxml", abstract: "Print a snapshot's XML.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Argument(help: "The snapshot.") var snapshot: String
        @Flag(name: .customLong("security-info"), help: "Include the domain's passwords.") var securityInfo = false

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                let xml = try await connection.call(
                    Remote.DomainSnapshotGetXMLDesc.self, .init(snap: RemoteDomainSnapshot(name: snapshot, dom: handle), flags: securityInfo ? 1 : 0)).xml
                print(xml, terminator: "")
            }
        }
    }
}

@testable import CorralDaemon
import CorralProtocol
import DomainXML
import Foundation
import Testing
import XMLTree

/// Snapshot documents, the snapshot tree and the plan of a new snapshot: libvirt's rules,
/// without QEMU.
@Suite("Domain snapshots")
struct SnapshotTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static let domainXML = """
        <domain type='qemu'><name>g</name><uuid>8add7347-1a0e-4230-a072-bec9fc3df426</uuid><memory>65536</memory>
        <os><type>hvm</type></os><devices>
        <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/g.qcow2'/><target dev='vda' bus='virtio'/></disk>
        <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/data.img'/><target dev='vdb' bus='virtio'/></disk>
        <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
        <graphics type='vnc' port='-1' autoport='yes' passwd='secret'/>
        </devices></domain>
        """

    static var definition: ParsedDomain { try! DomainXMLParser.parse(domainXML) }

    // MARK: Documents

    @Test("a full snapshot document formats as libvirt's, with or without the domain's secrets")
    func golden() throws {
        var snapshot = try DomainSnapshot.parse(
            "<domainsnapshot><name>before-upgrade</name><description>clean &amp; tidy</description><disks><disk name='vdb' snapshot='external'><source file='/images/data.before'/></disk></disks></domainsnapshot>",
            mode: .create(offline: true), now: 1_700_000_000)
        snapshot.state = .diskSnapshot
        snapshot.parent = "base"
        snapshot.memory = .no
        snapshot.domain = Self.definition.document
        let text = snapshot.format(secure: false)
        let file = Self.golden.appendingPathComponent("snapshot-disk-only.xml")
        if ProcessInfo.processInfo.environment["CORRAL_REGENERATE_GOLDEN"] != nil { try text.write(to: file, atomically: true, encoding: .utf8) }
        #expect(text == (try String(contentsOf: file, encoding: .utf8)))
        #expect(!text.contains("secret") && snapshot.format(secure: true).contains("passwd='secret'"))
        // What is written is read back the same (a redefinition).
        let again = try DomainSnapshot.parse(snapshot.format(secure: true), mode: .redefine, now: 0)
        #expect(again.name == "before-upgrade" && again.description == "clean & tidy" && again.parent == "base" && again.creationTime == 1_700_000_000)
        #expect(again.disks == [DomainSnapshot.Disk(name: "vdb", location: .external, path: "/images/data.before")] && again.state == .diskSnapshot)
        #expect(again.format(secure: true) == snapshot.format(secure: true))
    }

    @Test("a request without a name is named by its creation time; redefinitions must say everything")
    func defaults() throws {
        let unnamed = try DomainSnapshot.parse("<domainsnapshot/>", mode: .create(offline: false), now: 1234)
        #expect(unnamed.name == "1234" && unnamed.creationTime == 1234 && unnamed.memory == nil)
        for (xml, message) in [
            ("<domainsnapshot/>", "a redefined snapshot must have a name"),
            ("<domainsnapshot><name>a</name></domainsnapshot>", "missing creationTime from existing snapshot"),
            ("<domainsnapshot><name>a</name><creationTime>x1</creationTime><state>running</state></domainsnapshot>", "missing creationTime"),
            ("<domainsnapshot><name>a</name><creationTime>1</creationTime></domainsnapshot>", "missing state from existing snapshot"),
            ("<domainsnapshot><name>a</name><creationTime>1</creationTime><state>dancing</state></domainsnapshot>", "Invalid state 'dancing'"),
        ] {
            #expect { _ = try DomainSnapshot.parse(xml, mode: .redefine, now: 0) } throws: { ($0 as? DomainXMLError)?.message.contains(message) == true }
        }
        let offline = try DomainSnapshot.parse("<domainsnapshot><name>a</name><creationTime>1</creationTime><state>shutoff</state></domainsnapshot>", mode: .redefine, now: 0)
        #expect(offline.memory == DomainSnapshot.Location.no)
    }

    @Test("memory and disk requests are checked as libvirt checks them")
    func refusals() {
        for (xml, offline, message) in [
            ("<domainsnapshot><memory snapshot='manual'/></domainsnapshot>", false, "'manual' memory snapshot mode not supported"),
            ("<domainsnapshot><memory snapshot='internal' file='/x'/></domainsnapshot>", false, "memory filename '/x' requires external snapshot"),
            ("<domainsnapshot><memory snapshot='external'/></domainsnapshot>", false, "external memory snapshots require a filename"),
            ("<domainsnapshot><memory file='relative'/></domainsnapshot>", false, "must be absolute"),
            ("<domainsnapshot><memory snapshot='internal'/></domainsnapshot>", true, "memory state cannot be saved with offline or disk-only snapshot"),
            ("<domainsnapshot><disks><disk/></disks></domainsnapshot>", false, "missing name from disk snapshot element"),
            ("<domainsnapshot><disks><disk name='vda' type='dir'/></disks></domainsnapshot>", false, "unsupported disk snapshot type 'dir'"),
            ("<domainsnapshot><disks><disk name='vda'><driver type='vfat'/></disk></disks></domainsnapshot>", false, "unknown disk snapshot driver 'vfat'"),
            ("<domainsnapshot><disks><disk name='vda'><source file='x.qcow2'/></disk></disks></domainsnapshot>", false, "must be absolute"),
            ("<domainsnapshot><memory snapshot='sideways'/></domainsnapshot>", false, "Invalid value for attribute 'snapshot'"),
            ("<domain/>", false, "expecting <domainsnapshot>"),
        ] {
            #expect { _ = try DomainSnapshot.parse(xml, mode: .create(offline: offline), now: 1) } throws: { ($0 as? DomainXMLError)?.message.contains(message) == true }
        }
    }

    // MARK: The tree

    static func tree(_ edges: [(String, String?)], state: DomainSnapshot.State = .running) -> SnapshotTree {
        var tree = SnapshotTree()
        for (name, parent) in edges { tree.add(DomainSnapshot(name: name, state: state, parent: parent, creationTime: 1, memory: .internal)) }
        return tree
    }

    @Test("lists: roots, descendants, leaves, topological order, state and location filters")
    func lists() {
        // a ─ b ─ d
        //   └ c
        // e (shut off)
        var tree = Self.tree([("a", nil), ("b", "a"), ("c", "a"), ("d", "b")])
        tree.add(DomainSnapshot(name: "e", state: .shutoff, creationTime: 2))
        #expect(tree.list(from: nil, flags: []) == ["a", "b", "c", "d", "e"])
        #expect(tree.list(from: nil, flags: .roots) == ["a", "e"])
        #expect(tree.list(from: nil, flags: .leaves) == ["c", "d", "e"])
        #expect(tree.list(from: nil, flags: .noLeaves) == ["a", "b"])
        #expect(tree.list(from: nil, flags: [.leaves, .noLeaves]).isEmpty)
        #expect(tree.list(from: nil, flags: .topological) == ["a", "b", "d", "c", "e"])
        #expect(tree.list(from: "a", flags: []) == ["b", "c"])
        #expect(tree.list(from: "a", flags: .descendants) == ["b", "d", "c"])
        #expect(tree.list(from: nil, flags: .inactive) == ["e"])
        #expect(tree.list(from: nil, flags: .active) == ["a", "b", "c", "d"])
        #expect(tree.list(from: nil, flags: [.inactive, .active, .diskOnly]).count == 5)
        #expect(tree.list(from: nil, flags: .diskOnly).isEmpty)
        #expect(tree.list(from: nil, flags: .noMetadata).isEmpty && tree.list(from: nil, flags: .metadata).count == 5)
        #expect(tree.list(from: nil, flags: .external).isEmpty && tree.list(from: nil, flags: .internal).count == 5)
    }

    @Test("a cycle in a stored tree (a hand-edited file) does not loop")
    func cycle() throws {
        let text = """
            <snapshots current='a'>
            <domainsnapshot><name>a</name><state>running</state><parent><name>b</name></parent><creationTime>1</creationTime></domainsnapshot>
            <domainsnapshot><name>b</name><state>running</state><parent><name>a</name></parent><creationTime>2</creationTime></domainsnapshot>
            </snapshots>
            """
        let tree = try SnapshotTree(storedDocument: text, limits: .init())
        #expect(tree.list(from: nil, flags: .roots).isEmpty && tree.descendants(of: "a") == ["b"])
        #expect(tree.list(from: nil, flags: .topological).isEmpty && tree.list(from: nil, flags: []) == ["a", "b"])
    }

    @Test("removing a snapshot moves its children to its parent, and current to its parent")
    func removal() throws {
        var tree = Self.tree([("a", nil), ("b", "a"), ("c", "b"), ("d", "b")])
        tree.setCurrent("b")
        tree.remove("b")
        #expect(tree.children(of: "a") == ["c", "d"] && tree.current == "a" && tree.count == 3)
        tree.setCurrent("nonexistent")
        #expect(tree.current == nil)
        // The stored document gives the same tree back.
        tree.setCurrent("d")
        let stored = try SnapshotTree(storedDocument: tree.storedDocument(), limits: .init())
        #expect(stored == tree)
    }

    // MARK: Plans

    static func plan(_ xml: String, state: DomainState, flags: SnapshotCreateFlags = [], files: [String: SnapshotPlan.FileKind] = [:]) throws(RemoteError) -> SnapshotPlan {
        let requested = try! DomainSnapshot.parse(xml, mode: .create(offline: state == .shutoff || flags.contains(.diskOnly)), now: 5)
        return try SnapshotPlan(requested, definition: definition.definition, state: state, flags: flags) { files[$0] ?? .missing }
    }

    @Test("a running guest's snapshot is internal with memory; a disk-only one gets overlays named after it")
    func plans() throws {
        let qcow2Only = try DomainXMLParser.parse(Self.domainXML.replacingOccurrences(of: "type='raw'", with: "type='qcow2'"))
        let requested = try DomainSnapshot.parse("<domainsnapshot><name>s1</name></domainsnapshot>", mode: .create(offline: false), now: 5)
        let full = try SnapshotPlan(requested, definition: qcow2Only.definition, state: .running, flags: []) { _ in .regular }
        #expect(full.kind == .internal && full.snapshot.state == .running && full.snapshot.memory == .internal)
        #expect(full.snapshot.disks.map(\.location) == [.internal, .internal, DomainSnapshot.Location.no])

        let diskOnly = try Self.plan("<domainsnapshot><name>s2</name></domainsnapshot>", state: .running, flags: .diskOnly, files: ["/images/g.qcow2": .regular, "/images/data.img": .regular])
        #expect(diskOnly.kind == .external && diskOnly.snapshot.state == .diskSnapshot && diskOnly.snapshot.memory == DomainSnapshot.Location.no)
        #expect(diskOnly.snapshot.disks.map(\.path) == ["/images/g.s2", "/images/data.s2", nil])

        let offline = try Self.plan("<domainsnapshot><disks><disk name='vdb' snapshot='no'/></disks></domainsnapshot>", state: .shutoff, flags: .diskOnly, files: ["/images/g.qcow2": .regular])
        #expect(offline.kind == .external && offline.snapshot.state == .shutoff && offline.snapshot.disks[1].location == DomainSnapshot.Location.no)
    }

    @Test("plans libvirt refuses are refused with its words")
    func planRefusals() {
        let files: [String: SnapshotPlan.FileKind] = ["/images/g.qcow2": .regular, "/images/data.img": .regular, "/taken": .regular]
        for (xml, state, flags, message) in [
            // A raw disk cannot hold an internal snapshot.
            ("<domainsnapshot/>", DomainState.running, SnapshotCreateFlags(), "internal snapshot for disk vdb unsupported for storage type raw"),
            ("<domainsnapshot><memory snapshot='no'/></domainsnapshot>", .running, [], "internal snapshot of a running VM must include the memory state"),
            ("<domainsnapshot><disks><disk name='vdb' snapshot='no'/></disks></domainsnapshot>", .running, [], "disk 'vdb' must use snapshot mode 'internal'"),
            ("<domainsnapshot><disks><disk name='vdz'/></disks></domainsnapshot>", .running, .diskOnly, "no disk named 'vdz'"),
            ("<domainsnapshot><disks><disk name='vda'/><disk name='/images/g.qcow2'/></disks></domainsnapshot>", .running, .diskOnly, "specified twice"),
            ("<domainsnapshot><disks><disk name='vda' snapshot='external'/></disks></domainsnapshot>", .running, [], "disk 'vda' must use snapshot mode 'internal'"),
            ("<domainsnapshot><disks><disk name='vda'><source file='/taken'/></disk></disks></domainsnapshot>", .running, .diskOnly, "already exists and is not a block device"),
            ("<domainsnapshot><disks><disk name='vda'><driver type='raw'/></disk></disks></domainsnapshot>", .running, .diskOnly, "external snapshot format for disk vda is unsupported: raw"),
            ("<domainsnapshot><disks><disk name='vda' snapshot='no'/><disk name='vdb' snapshot='no'/></disks></domainsnapshot>", .running, .diskOnly, "nothing selected for snapshot"),
            ("<domainsnapshot><memory snapshot='external' file='/m'/></domainsnapshot>", .running, [], "external memory snapshots are not supported by Corral"),
        ] {
            #expect {
                _ = try Self.plan(xml, state: state, flags: flags, files: files)
            } throws: { error in
                (error as? RemoteError)?.message?.contains(message) == true
            }
        }
    }
}

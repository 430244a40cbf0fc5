@testable import CorralDaemon
import CorralJSON
import CorralProtocol
import DomainXML
import QEMUCommandLine
import Testing

@Suite("Migration storage copy: disks, QMP arguments, mirror states")
struct StorageCopyTests {
    static let xml = """
        <domain type='qemu'><name>g</name><memory unit='MiB'>64</memory><os><type machine='q35'>hvm</type></os>
        <devices>
          <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
          <disk type='file' device='disk'><source file='/i/shared.img'/><target dev='vdb' bus='virtio'/><shareable/></disk>
          <disk type='file' device='cdrom'><source file='/i/cd.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
          <disk type='file' device='cdrom'><target dev='sdb' bus='sata'/></disk>
        </devices></domain>
        """

    func selection(_ requested: [String]) throws(RemoteError) -> [StorageCopyDisk] {
        let definition = try! DomainXMLParser.parse(Self.xml, options: .init()).definition
        return try StorageCopyDisk.selection(definition: definition, devices: GuestDevices(definition, runDirectory: "/run/g"), requested: requested)
    }

    @Test("by default every disk with a source that is neither read-only nor shareable (libvirt's rule)")
    func defaultSelection() throws {
        let disks = try selection([])
        #expect(disks.map(\.target) == ["vda"])
        #expect(disks.first?.exportName == "drive-virtio-disk0" && disks.first?.format == "qcow2" && disks.first?.source == "/i/a.qcow2")
        #expect(disks.first?.mirrorFormatNode == "migration-vda-format")
    }

    @Test("migrate_disks picks; unknown targets and read-only or empty disks are refused")
    func requestedSelection() throws {
        #expect(try selection(["vdb"]).map(\.target) == ["vdb"])
        for (requested, message) in [
            (["vdz"], "invalid argument: disk target vdz not found"),
            (["sda"], "Operation not supported: Cannot migrate empty or read-only disk sda"),
            (["sdb"], "Operation not supported: Cannot migrate empty or read-only disk sdb"),
        ] {
            do {
                _ = try selection(requested)
                Issue.record("accepted \(requested)")
            } catch {
                #expect(error.message == message)
            }
        }
    }

    @Test("QMP arguments: libvirt's export, nodes and job")
    func arguments() throws {
        let disk = try #require(try selection([]).first)
        #expect(disk.exportArguments.description == #"{"type":"nbd","id":"libvirt-nbd-\#(disk.formatNode)","node-name":"\#(disk.formatNode)","writable":true,"name":"drive-virtio-disk0"}"#)
        let targets = disk.mirrorTargetArguments(host: "10.0.0.2", port: 49153).map(\.description)
        #expect(targets == [
            #"{"driver":"nbd","server":{"type":"inet","host":"10.0.0.2","port":"49153"},"export":"drive-virtio-disk0","node-name":"migration-vda-storage"}"#,
            #"{"node-name":"migration-vda-format","read-only":false,"driver":"raw","file":"migration-vda-storage"}"#,
        ])
        #expect(disk.mirrorArguments(incremental: true, speed: 1 << 20).description
            == #"{"job-id":"drive-virtio-disk0","device":"\#(disk.formatNode)","target":"migration-vda-format","sync":"top","speed":1048576,"auto-finalize":true,"auto-dismiss":false}"#)
        #expect(disk.mirrorArguments(incremental: false, speed: 0)["sync"]?.stringValue == "full")
        #expect(StorageCopyDisk.serverStartArguments(host: "::", port: 49154).description == #"{"addr":{"type":"inet","data":{"host":"::","port":"49154"}}}"#)
    }

    @Test("mirror job states from query-jobs and query-block-jobs")
    func jobStates() throws {
        func state(_ jobs: String, _ blockJobs: String = "[]") throws -> MirrorJobState {
            MirrorJobState.of("drive-virtio-disk0", jobs: try JSONValue.parse(jobs), blockJobs: try JSONValue.parse(blockJobs))
        }
        #expect(try state("[]") == .missing)
        #expect(try state(#"[{"id":"drive-virtio-disk0","status":"running","current-progress":5,"total-progress":10}]"#) == .copying(offset: 5, length: 10))
        #expect(try state(#"[{"id":"drive-virtio-disk0","status":"ready","current-progress":10,"total-progress":10}]"#) == .ready(length: 10))
        #expect(try state(#"[{"id":"drive-virtio-disk0","status":"running","current-progress":10,"total-progress":10}]"#,
                          #"[{"device":"drive-virtio-disk0","ready":true}]"#) == .ready(length: 10))
        #expect(try state(#"[{"id":"drive-virtio-disk0","status":"concluded","error":"Connection reset"}]"#) == .concluded(error: "Connection reset"))
        #expect(try state(#"[{"id":"drive-virtio-disk0","status":"concluded"}]"#) == .concluded(error: nil))
        // Hostile sizes do not trap.
        #expect(try state(#"[{"id":"drive-virtio-disk0","status":"running","current-progress":-5,"total-progress":1e300}]"#) == .copying(offset: 0, length: 0))
    }
}

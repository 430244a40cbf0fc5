@testable import CorralDaemon
import CorralProtocol
import DomainXML
import Testing
import XMLTree

@Suite("Control groups and vCPU documents")
struct CgroupLayoutTests {
    static let hybrid = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
    static let unified = """
        25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """

    @Test("a hybrid host: the v1 hierarchies win; an empty unified one adds nothing")
    func hybridLayout() {
        let layout = CgroupLayout.parse(mountinfo: Self.hybrid) { _ in [] }
        #expect(layout.mounts[.cpu]?.path == "/sys/fs/cgroup/cpu" && layout.mounts[.cpu]?.version == .v1)
        #expect(layout.mounts[.blkio]?.path == "/sys/fs/cgroup/blkio")
        #expect(layout.mounts.count == 4)
        let group = GuestCgroup(layout: layout, name: "web", id: 7)
        #expect(group.directories[.memory] == "/sys/fs/cgroup/memory/corral/qemu-7-web")
    }

    @Test("a unified host: controllers from the root's cgroup.controllers, io for blkio")
    func unifiedLayout() {
        let layout = CgroupLayout.parse(mountinfo: Self.unified) { path in
            path == "/sys/fs/cgroup" ? ["cpuset", "cpu", "io", "memory", "pids"] : []
        }
        #expect(layout.mounts[.blkio]?.path == "/sys/fs/cgroup" && layout.mounts[.blkio]?.version == .v2)
        #expect(layout.mounts.count == 4)
        let none = CgroupLayout.parse(mountinfo: Self.unified) { _ in ["pids"] }
        #expect(none.mounts.isEmpty)
        // Without the controller, libvirt's refusal.
        #expect(throws: RemoteError.self) { try GuestCgroup(layout: none, name: "x", id: 1).directory(.cpu) }
    }

    @Test("garbage lines are skipped, not trusted")
    func garbage() {
        let layout = CgroupLayout.parse(mountinfo: "x\n - \n1 2 3 - cgroup\n\u{0}\n") { _ in ["cpu"] }
        #expect(layout.mounts.isEmpty)
    }

    @Test("vCPU counts and pins in documents, as libvirt writes them")
    func vcpuDocuments() throws {
        var document = try XMLTreeParser.parse("<domain><name>d</name><vcpu placement='static'>4</vcpu><os/></domain>")
        VcpuDocument.setCount(&document, current: 2)
        #expect(document.element(named: "vcpu")?[attribute: "current"] == "2")
        VcpuDocument.setCount(&document, current: 4)
        #expect(document.element(named: "vcpu")?[attribute: "current"] == nil)
        VcpuDocument.setPin(&document, vcpu: 1, cpus: .init([0, 1, 2, 5]))
        VcpuDocument.setPin(&document, vcpu: nil, cpus: .init([3]))
        VcpuDocument.setPin(&document, vcpu: 0, cpus: .init([1]))
        let tune = try #require(document.element(named: "cputune"))
        #expect(tune.elements.map { "\($0.name):\($0[attribute: "vcpu"] ?? "-"):\($0[attribute: "cpuset"] ?? "")" } == [
            "vcpupin:0:1", "vcpupin:1:0-2,5", "emulatorpin:-:3",
        ])
        // After <vcpu>, where libvirt puts it; an emptied <cputune> goes.
        #expect(document.elements.map(\.name) == ["name", "vcpu", "cputune", "os"])
        for vcpu in [0, 1] { VcpuDocument.setPin(&document, vcpu: vcpu, cpus: nil) }
        VcpuDocument.setPin(&document, vcpu: nil, cpus: nil)
        #expect(document.element(named: "cputune") == nil)
        VcpuDocument.setMaximum(&document, maximum: 2)
        #expect(document.element(named: "vcpu")?.text == "2")
    }

    @Test("CPU sets in libvirt's syntax, both ways", arguments: [
        ("0-3,^2,6", [0, 1, 3, 6], "0-1,3,6"), ("7", [7], "7"), (" 1 , 2 ", [1, 2], "1-2"),
    ])
    func cpuSets(text: String, cpus: [Int], formatted: String) throws {
        let set = try #require(DomainDefinition.CPUSet(parsing: text))
        #expect(set.cpus == Set(cpus) && set.description == formatted)
        #expect(DomainDefinition.CPUSet(map: set.map(length: 2)) == set)
    }

    @Test("CPU sets refuse what libvirt refuses", arguments: ["", "a", "3-1", "0-", "^1-2", "16384", "-1", "1,,2"])
    func badCPUSets(text: String) {
        #expect(DomainDefinition.CPUSet(parsing: text) == nil)
    }

    @Test("the x86 vCPU unplug libvirt's QEMU reports by its APIC path")
    func vcpuUnplugPaths() {
        #expect(DomainDriver.unpluggedVcpu(path: "/machine/peripheral/vcpu3/lapic") == "vcpu3")
        #expect(DomainDriver.unpluggedVcpu(path: "/machine/peripheral/virtio-disk1/virtio-backend") == nil)
        #expect(DomainDriver.unpluggedVcpu(path: "/machine/peripheral/vcpu3/x/lapic") == nil)
        #expect(DomainDriver.unpluggedVcpu(path: nil) == nil)
    }
}

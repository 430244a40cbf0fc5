import Foundation
import POSIXSupport
import Logging
import QEMUProbe
import Testing

@Suite("Emulator probe")
struct EmulatorProbeTests {
    @Test("the real emulator reports its version, machines, KVM state and config groups; the cache returns the same")
    func probeRealEmulator() throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("corral-probe-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let logger = Logger(label: "test")
        let probed = EmulatorProbe.probe(path: "/usr/bin/qemu-system-x86_64", cacheDirectory: cache, logger: logger)
        let text = try ChildProcess.run("/usr/bin/qemu-system-x86_64", ["--version"]).standardOutput
        #expect(text.contains("version \(probed.versionString)"))
        #expect(probed.machines.contains { $0.name == "q35" && $0.canonical?.hasPrefix("pc-q35-") == true })
        #expect(probed.machines.contains { $0.isDefault })
        #expect(probed.configGroups.isSuperset(of: ["device", "object", "chardev", "machine", "drive", "netdev"]))
        #expect(probed.deviceTypes.isSuperset(of: ["virtio-net-pci", "virtio-blk-pci", "isa-serial", "pvpanic"]))
        #expect(probed.objectTypes.isSuperset(of: ["memory-backend-ram", "rng-random", "cryptodev-backend-builtin", "iothread"]))
        #expect(!probed.objectTypes.contains("virtio-net-pci"))
        #expect(probed.commands.isSuperset(of: ["query-status", "cont", "stop", "system_powerdown", "human-monitor-command"]))
        // QEMU 7.2 offers every feature Corral chooses syntax by, each found in its own answers.
        #expect(probed.deviceAddFeatures.contains("json-cli") && probed.soundCodecProperties.contains("audiodev") && probed.acceptsCompatOption)
        #expect(probed.qemuCapabilities == Set(QEMUCapability.allCases))
        #expect(probed.kvmUsable == FileManager.default.isWritableFile(atPath: "/dev/kvm") || !probed.kvmUsable)
        // The CPU QEMU can give a guest, expanded under the accelerator guests run under: its
        // booleans that are on (numbers and strings apart), vendor and signature.
        let hostCPU = try #require(probed.hostCPU)
        #expect(hostCPU.accelerator == (probed.kvmUsable ? "kvm" : "tcg"))
        #expect(hostCPU.enabledProperties.contains("fpu") && hostCPU.enabledProperties.contains("lm") && !hostCPU.enabledProperties.contains("family"))
        #expect(hostCPU.enabledProperties == hostCPU.enabledProperties.sorted() && hostCPU.family > 0 && hostCPU.vendor?.count == 12)
        // Models name what keeps them from running under that accelerator.
        #expect(probed.cpuModels.allSatisfy { $0.usable == $0.blockers.isEmpty })
        #expect(probed.cpuModels.contains { !$0.blockers.isEmpty } && probed.cpuModels.contains { $0.name == "qemu64" && $0.usable })
        let files = try FileManager.default.contentsOfDirectory(atPath: cache)
        #expect(files.count == 1 && files[0].hasPrefix("emulator-"))
        #expect(EmulatorProbe.probe(path: "/usr/bin/qemu-system-x86_64", cacheDirectory: cache, logger: logger) == probed)
    }

    @Test("each capability follows from its own probed fact, not from the version")
    func capabilitiesFromFacts() {
        var emulator = EmulatorCapabilities.unknown(path: "/usr/bin/qemu-system-x86_64")
        emulator.version = 9_000_000
        #expect(emulator.qemuCapabilities.isEmpty)
        emulator.commands = ["blockdev-add"]
        #expect(emulator.qemuCapabilities == [.blockdev])
        emulator.deviceAddFeatures = ["json-cli"]
        emulator.configGroups = ["sandbox"]
        #expect(emulator.qemuCapabilities == [.blockdev, .deviceJSON, .seccompSandbox])
        emulator.soundCodecProperties = ["audiodev", "cad"]
        emulator.acceptsCompatOption = true
        #expect(emulator.qemuCapabilities == Set(QEMUCapability.allCases))
    }

    @Test("a missing emulator is reported as unknown, not a crash")
    func missingEmulator() {
        let probed = EmulatorProbe.probe(path: "/nonexistent/qemu", logger: Logger(label: "test"))
        #expect(probed == .unknown(path: "/nonexistent/qemu"))
    }

    @Test("KVM needs the host CPU to advertise VT-x or AMD-V (a nested /dev/kvm without them hangs Linux guests)")
    func hardwareVirtualization() {
        let intel = "processor\t: 0\nflags\t\t: fpu vme de pse vmx sse3 ssse3\nbugs\t\t:\n"
        let amd = "processor\t: 0\nflags\t\t: fpu svm lm\n"
        let nested = "processor\t: 0\nflags\t\t: fpu pni ssse3 sse4_1 hypervisor\nbugs\t\t: vmx_bug\n"
        #expect(EmulatorProbe.hostAdvertisesHardwareVirtualization(cpuinfo: intel))
        #expect(EmulatorProbe.hostAdvertisesHardwareVirtualization(cpuinfo: amd))
        #expect(!EmulatorProbe.hostAdvertisesHardwareVirtualization(cpuinfo: nested))
        #expect(!EmulatorProbe.hostAdvertisesHardwareVirtualization(cpuinfo: nil))
    }
}

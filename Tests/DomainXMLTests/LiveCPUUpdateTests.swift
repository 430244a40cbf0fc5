@testable import DomainXML
import Testing
import XMLTree

/// libvirt's CPU map read from its files, and a running guest's `<cpu>` made from the vCPU's
/// CPUID words as libvirt makes it (`virCPUx86UpdateLive`). tests-python/test_live_xml.py starts
/// the same CPU models on corrald and libvirtd and compares their XML.
@Suite("Live CPU: libvirt's CPU map and the CPU QEMU made")
struct LiveCPUUpdateTests {
    /// A map of four features (one with a subleaf, one an MSR) and two models, the second built
    /// on the first and with a removed feature.
    static let files: [String: String] = [
        "index.xml": "<cpus><arch name='arm'><include filename='missing.xml'/></arch><arch name='x86'><include filename='x86_features.xml'/><include filename='x86_models.xml'/></arch></cpus>",
        "x86_features.xml": """
            <cpus>
              <feature name='fpu'><cpuid eax_in='0x01' edx='0x00000001'/></feature>
              <feature name='x2apic'><cpuid eax_in='0x01' ecx='0x00200000'/></feature>
              <feature name='avx2'><cpuid eax_in='0x07' ecx_in='0x00' ebx='0x00000020'/></feature>
              <feature name='monitor'><cpuid eax_in='0x01' ecx='0x00000008'/></feature>
              <feature name='rdctl-no'><msr index='0x10a' edx='0x00000000' eax='0x00000001'/></feature>
            </cpus>
            """,
        "x86_models.xml": """
            <cpus>
              <model name='base'><feature name='fpu'/></model>
              <model name='newer'><model name='base'/><feature name='avx2'/><feature name='monitor' removed='yes'/><feature name='rdctl-no'/></model>
            </cpus>
            """,
    ]

    static let map = try! X86CPUMap.parse(index: files["index.xml"]!) { files[$0] }

    static func bits(_ list: [(UInt32, UInt32, X86CPUIDRegister, UInt32)]) -> X86CPUIDData {
        var data = X86CPUIDData()
        for (leaf, subleaf, register, mask) in list { data.add(mask, at: .init(leaf: leaf, subleaf: subleaf, register: register)) }
        return data
    }

    static let fpu = (UInt32(1), UInt32(0), X86CPUIDRegister.edx, UInt32(1))
    static let x2apic = (UInt32(1), UInt32(0), X86CPUIDRegister.ecx, UInt32(0x0020_0000))
    static let avx2 = (UInt32(7), UInt32(0), X86CPUIDRegister.ebx, UInt32(0x20))

    static func cpu(_ xml: String) throws -> XMLElement { try XMLTreeParser.parse(xml) }

    static func features(_ cpu: XMLElement?) -> [String] {
        (cpu?.elements(named: "feature") ?? []).map { "\($0[attribute: "policy"] ?? "?"):\($0[attribute: "name"] ?? "?")" }
    }

    @Test("the map: features in file order with their CPUID bits, MSR features marked, models with their ancestor's bits and removed features")
    func mapReads() throws {
        let map = Self.map
        #expect(map.features.map(\.name) == ["fpu", "x2apic", "avx2", "monitor", "rdctl-no"])
        #expect(map.feature(named: "avx2")?.cpuid == Self.bits([Self.avx2]))
        #expect(map.feature(named: "rdctl-no")?.isMSR == true && map.feature(named: "fpu")?.isMSR == false)
        var newer = Self.bits([Self.fpu, Self.avx2])
        newer.add(1, at: X86CPUIDData.MSRLocation(index: 0x10a, half: .eax))
        #expect(map.models["newer"]?.cpuid == newer)
        #expect(map.feature(named: "rdctl-no")?.cpuid.msrMasks == [X86CPUIDData.MSRLocation(index: 0x10a, half: .eax): 1])
        #expect(map.models["newer"]?.removedFeatures == ["monitor"] && map.models["base"]?.removedFeatures == [])
    }

    @Test("a map that names what it does not define, or a file it cannot read, is refused")
    func badMaps() {
        var files = Self.files
        files["x86_models.xml"] = "<cpus><model name='m'><feature name='nosuch'/></model></cpus>"
        #expect(throws: CPUMapError.self) { try X86CPUMap.parse(index: files["index.xml"]!) { files[$0] } }
        files["x86_models.xml"] = "<cpus><model name='m'><model name='nosuch'/></model></cpus>"
        #expect(throws: CPUMapError.self) { try X86CPUMap.parse(index: files["index.xml"]!) { files[$0] } }
        #expect(throws: CPUMapError.self) { try X86CPUMap.parse(index: files["index.xml"]!) { $0 == "x86_models.xml" ? nil : files[$0] } }
        #expect(throws: CPUMapError.self) { try X86CPUMap.parse(index: "<cpus/>") { _ in nil } }
        #expect(X86CPUMap.load(directory: "/nonexistent") == nil)
    }

    @Test("features QEMU enabled beyond the model are required, ones it left out or filtered disabled, the removed ones disabled last")
    func update() throws {
        let asked = try Self.cpu("<cpu mode='custom' match='exact' check='partial'><model fallback='forbid'>newer</model><feature policy='require' name='x2apic'/><numa><cell id='0' cpus='0' memory='1'/></numa></cpu>")
        // QEMU made fpu and monitor, filtered x2apic, and left avx2 out.
        let made = try LiveCPUUpdate.updated(
            asked, enabled: Self.bits([Self.fpu, (1, 0, .ecx, 0x8)]), disabled: Self.bits([Self.x2apic]), map: Self.map)
        #expect(made?[attribute: "check"] == "full")
        #expect(Self.features(made) == ["disable:x2apic", "disable:avx2", "require:monitor"])
        // Features stay before <numa>, where libvirt writes them.
        #expect(made?.elements.map(\.name) == ["model", "feature", "feature", "feature", "numa"])
        // A CPU made exactly as asked only gains check='full' and the removed feature.
        let exact = try LiveCPUUpdate.updated(
            try Self.cpu("<cpu mode='custom' match='exact'><model>newer</model></cpu>"), enabled: Self.bits([Self.fpu, Self.avx2]), disabled: X86CPUIDData(), map: Self.map)
        #expect(Self.features(exact) == ["disable:monitor"] && exact?[attribute: "check"] == "full")
    }

    @Test("libvirt leaves host-model, a custom CPU without a model, unknown models and host-passthrough without check='full' as asked")
    func leftAlone() throws {
        let none = X86CPUIDData()
        for xml in ["<cpu mode='host-model'/>", "<cpu mode='custom'><topology sockets='1' cores='1' threads='1'/></cpu>",
                    "<cpu mode='custom'><model>unknown</model></cpu>", "<cpu mode='maximum'/>", "<cpu mode='host-passthrough' check='none'/>",
                    "<cpu mode='custom'><model>base</model><feature policy='require' name='unknown'/></cpu>"] {
            #expect(try LiveCPUUpdate.updated(try Self.cpu(xml), enabled: none, disabled: none, map: Self.map) == nil, "\(xml)")
        }
        // Fully checked host-passthrough: what the definition disables must be off.
        let passthrough = try Self.cpu("<cpu mode='host-passthrough' check='full'><feature policy='disable' name='avx2'/></cpu>")
        #expect(throws: LiveCPUUpdate.Mismatch(description: "guest CPU doesn't match specification: extra features: avx2")) {
            try LiveCPUUpdate.updated(passthrough, enabled: Self.bits([Self.avx2]), disabled: none, map: Self.map)
        }
    }

    @Test("check='full': a CPU not made as asked fails with libvirt's messages")
    func fullCheck() throws {
        let asked = try Self.cpu("<cpu mode='custom' match='exact' check='full'><model>base</model><feature policy='require' name='x2apic'/></cpu>")
        #expect(throws: LiveCPUUpdate.Mismatch(description: "guest CPU doesn't match specification: extra features: avx2, missing features: x2apic")) {
            try LiveCPUUpdate.updated(asked, enabled: Self.bits([Self.fpu, Self.avx2]), disabled: X86CPUIDData(), map: Self.map)
        }
        #expect(throws: LiveCPUUpdate.Mismatch(description: "guest CPU doesn't match specification: missing features: x2apic")) {
            try LiveCPUUpdate.updated(asked, enabled: Self.bits([Self.fpu]), disabled: X86CPUIDData(), map: Self.map)
        }
        // Made as asked, but QEMU filtered a feature nobody asked for.
        #expect(throws: LiveCPUUpdate.Mismatch(description: "guest CPU doesn't match specification")) {
            try LiveCPUUpdate.updated(asked, enabled: Self.bits([Self.fpu, Self.x2apic]), disabled: Self.bits([(0xD, 1, .eax, 1)]), map: Self.map)
        }
        let made = try LiveCPUUpdate.updated(asked, enabled: Self.bits([Self.fpu, Self.x2apic]), disabled: X86CPUIDData(), map: Self.map)
        #expect(Self.features(made) == ["require:x2apic"])
    }

    @Test("before the start, a model's removed features are asked off, in the document and in the typed definition")
    func removedFeatures() throws {
        let asked = try Self.cpu("<cpu mode='custom'><model>newer</model><feature policy='require' name='fpu'/></cpu>")
        #expect(Self.features(LiveCPUUpdate.disablingRemovedFeatures(asked, map: Self.map)) == ["require:fpu", "disable:monitor"])
        let already = try Self.cpu("<cpu mode='custom'><model>newer</model><feature policy='require' name='monitor'/></cpu>")
        #expect(Self.features(LiveCPUUpdate.disablingRemovedFeatures(already, map: Self.map)) == ["require:monitor"])
        let definition = try DomainXMLParser.parse(
            "<domain type='qemu'><name>a</name><memory>65536</memory><os><type arch='x86_64'>hvm</type></os><cpu mode='custom'><model>newer</model></cpu></domain>").definition
        #expect(definition.cpu?.disablingRemovedFeatures(map: Self.map).features.map { "\($0.policy.rawValue):\($0.name)" } == ["disable:monitor"])
    }

    @Test("libvirt's own map reads, and QEMU's qemu64 under TCG shows as libvirtd shows it")
    func installedMap() throws {
        // The tests install libvirt, whose client library ships the map.
        let map = try #require(X86CPUMap.load())
        #expect(map.models.count > 50 && map.features.count > 150)
        #expect(map.models["EPYC"]?.removedFeatures == ["monitor"])
        var enabled = try #require(map.models["qemu64"]?.cpuid)
        for name in ["hypervisor", "lahf_lm"] { enabled.add(try #require(map.feature(named: name)).cpuid) }
        let made = try LiveCPUUpdate.updated(
            try Self.cpu("<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model><feature policy='require' name='x2apic'/></cpu>"),
            enabled: enabled, disabled: try #require(map.feature(named: "x2apic")).cpuid, map: map)
        #expect(Self.features(made) == ["disable:x2apic", "require:hypervisor", "require:lahf_lm"])
    }

    @Test("migratable XML says an Icelake-Server's pconfig is off")
    func icelakePconfig() throws {
        let document = try DomainXMLParser.parse(
            "<domain type='qemu'><name>a</name><memory>65536</memory><os><type arch='x86_64'>hvm</type></os><cpu mode='custom'><model>Icelake-Server</model></cpu></domain>").document
        #expect(Self.features(DomainMigratableForm.of(document).element(named: "cpu")) == ["disable:pconfig"])
    }
}

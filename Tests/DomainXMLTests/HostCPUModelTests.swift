import DomainXML
import Foundation
import Testing
import XMLTree

@Suite("The host model: found from QEMU's CPU as libvirt finds it, and what a host-model guest starts with")
struct HostCPUModelTests {
    /// A small map: two vendors, four features, and models that differ in vendor, signature
    /// and features.
    static let files: [String: String] = [
        "index.xml": "<cpus><arch name='x86'><include filename='x86_vendors.xml'/><include filename='x86_features.xml'/><include filename='x86_models.xml'/></arch></cpus>",
        "x86_vendors.xml": "<cpus><vendor name='Intel' string='GenuineIntel'/><vendor name='AMD' string='AuthenticAMD'/></cpus>",
        "x86_features.xml": """
            <cpus>
              <feature name='fpu'><cpuid eax_in='0x01' edx='0x00000001'/></feature>
              <feature name='fxsr_opt'><cpuid eax_in='0x80000001' edx='0x02000000'/></feature>
              <feature name='x2apic'><cpuid eax_in='0x01' ecx='0x00200000'/></feature>
              <feature name='avx2'><cpuid eax_in='0x07' ecx_in='0x00' ebx='0x00000020'/></feature>
              <feature name='osxsave'><cpuid eax_in='0x01' ecx='0x08000000'/></feature>
            </cpus>
            """,
        "x86_models.xml": """
            <cpus>
              <model name='plain'><decode host='on' guest='on'/><feature name='fpu'/></model>
              <model name='amd-old'><decode host='on' guest='on'/><signature family='23' model='1'/><vendor name='AMD'/><feature name='fpu'/></model>
              <model name='amd-new'><decode host='on' guest='on'/><model name='amd-old'/><signature family='25' model='1' stepping='0-4'/><feature name='fxsr_opt'/><feature name='avx2'/></model>
              <model name='intel'><decode host='on' guest='on'/><vendor name='Intel'/><feature name='fpu'/><feature name='fxsr_opt'/><feature name='avx2'/></model>
              <model name='hidden'><decode host='on' guest='off'/><feature name='fpu'/><feature name='fxsr_opt'/><feature name='avx2'/></model>
            </cpus>
            """,
    ]

    static let map = try! X86CPUMap.parse(index: files["index.xml"]!) { files[$0] }

    static func listed(_ host: HostCPUModel?) -> [String] {
        (host?.features ?? []).map { "\($0.required ? "require" : "disable"):\($0.name)" }
    }

    static func probe(_ properties: [String], vendor: String? = "AuthenticAMD", family: UInt32 = 15, model: UInt32 = 107, stepping: UInt32 = 1) -> HostCPUModel.Probe {
        HostCPUModel.Probe(enabledProperties: properties, vendorString: vendor, family: family, model: model, stepping: stepping)
    }

    @Test("the map reads vendors, model vendors and signatures (inherited from the ancestor, replaced by the model's own), decode flags and order")
    func mapReadsDecodingFacts() {
        let map = Self.map
        #expect(map.vendors.map(\.name) == ["Intel", "AMD"] && map.vendor(string: "AuthenticAMD")?.name == "AMD")
        #expect(map.modelOrder == ["plain", "amd-old", "amd-new", "intel", "hidden"])
        #expect(map.models["amd-new"]?.vendor == "AMD" && map.models["plain"]?.vendor == nil)
        #expect(map.models["amd-new"]?.signatures == [X86CPUMap.Signature(family: 25, model: 1, steppings: 0...4)])
        #expect(map.models["amd-new"]?.signatures.first?.matches(family: 25, model: 1, stepping: 5) == false)
        #expect(map.models["hidden"]?.decodesGuest == false && map.models["intel"]?.decodesGuest == true)
    }

    @Test("the model with the fewest listed features wins, disabled ones weighing more; other vendors and guest-hidden models are passed over")
    func fewestFeaturesWin() {
        // fpu, fxsr-opt (QEMU's spelling) and avx2 on an AMD CPU: amd-new lists nothing.
        let host = HostCPUModel.decode(Self.probe(["fpu", "fxsr-opt", "avx2", "kvmclock"]), map: Self.map, offered: nil)
        #expect(host?.model == "amd-new" && host?.vendor == "AMD" && Self.listed(host) == [])
        // Without avx2: amd-new would disable avx2 (weight 2), amd-old require fxsr_opt (weight 1).
        let older = HostCPUModel.decode(Self.probe(["fpu", "fxsr-opt"]), map: Self.map, offered: nil)
        #expect(older?.model == "amd-old" && Self.listed(older) == ["require:fxsr_opt"])
        // An Intel CPU never gets an AMD model; `hidden` describes it exactly but is not for guests.
        let intel = HostCPUModel.decode(Self.probe(["fpu", "fxsr-opt", "avx2"], vendor: "GenuineIntel"), map: Self.map, offered: nil)
        #expect(intel?.model == "intel" && intel?.vendor == "Intel")
    }

    @Test("a model whose signature matches the CPU is kept over one that lists fewer features")
    func signatureWins() {
        let host = HostCPUModel.decode(Self.probe(["fpu"], family: 23, model: 1, stepping: 0), map: Self.map, offered: nil)
        #expect(host?.model == "amd-old" && Self.listed(host) == [])
        // amd-new's signature matches; it must disable two features, yet wins over amd-old.
        let newer = HostCPUModel.decode(Self.probe(["fpu"], family: 25, model: 1, stepping: 2), map: Self.map, offered: nil)
        #expect(newer?.model == "amd-new" && Self.listed(newer) == ["disable:fxsr_opt", "disable:avx2"])
    }

    @Test("only models QEMU offers are candidates, and their blockers are listed as disabled")
    func offeredModelsAndBlockers() {
        let offered = ["amd-old": [String](), "plain": ["fxsr-opt"]]
        let host = HostCPUModel.decode(Self.probe(["fpu", "avx2"]), map: Self.map, offered: offered)
        #expect(host?.model == "amd-old" && Self.listed(host) == ["require:avx2"])
        let blocked = HostCPUModel.decode(Self.probe(["fpu", "avx2"], vendor: "GenuineIntel"), map: Self.map, offered: offered)
        #expect(blocked?.model == "plain" && Self.listed(blocked) == ["require:avx2", "disable:fxsr_opt"])
        #expect(HostCPUModel.decode(Self.probe(["fpu"]), map: Self.map, offered: ["unknown": []]) == nil)
    }

    @Test("QEMU 7.2's max CPU under TCG on this AMD host is EPYC with libvirtd's features, in libvirtd's order")
    func qemuTCGHostModelIsLibvirtds() throws {
        let map = try #require(X86CPUMap.load(), "libvirt's CPU map (package libvirt0) is installed by Scripts/install-dependencies.sh")
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/host-cpu-qemu-7.2-tcg.json")
        let fixture = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let probe = HostCPUModel.Probe(
            enabledProperties: fixture["enabledProperties"] as? [String] ?? [], vendorString: fixture["vendor"] as? String,
            family: UInt32(fixture["family"] as? Int ?? 0), model: UInt32(fixture["model"] as? Int ?? 0), stepping: UInt32(fixture["stepping"] as? Int ?? 0))
        let host = HostCPUModel.decode(probe, map: map, offered: fixture["models"] as? [String: [String]])
        // `virsh domcapabilities --virttype qemu` of libvirtd 9.0 with the same QEMU.
        #expect(host?.model == "EPYC" && host?.vendor == "AMD")
        #expect(Self.listed(host) == [
            "require:acpi", "require:ss", "require:monitor", "require:hypervisor", "require:erms", "require:mpx", "require:pcommit", "require:clwb",
            "require:umip", "require:pku", "require:vaes", "require:la57", "require:pks", "require:3dnowext", "require:3dnow", "require:npt",
            "require:vgif", "require:svme-addr-chk", "disable:vme", "disable:rdseed", "disable:sha-ni", "disable:xsavec", "disable:fxsr_opt",
            "disable:misalignsse", "disable:3dnowprefetch", "disable:osvw", "disable:topoext", "disable:nrip-save",
        ])
    }

    static let host = HostCPUModel.decode(probe(["fpu", "fxsr-opt"]), map: map, offered: nil)!

    static func cpu(_ xml: String) throws -> XMLElement { try XMLTreeParser.parse(xml) }

    static func features(_ cpu: XMLElement) -> [String] {
        cpu.elements(named: "feature").map { "\($0[attribute: "policy"] ?? "?"):\($0[attribute: "name"] ?? "?")" }
    }

    @Test("host-model becomes the host's custom CPU with the guest's features over it; its topology, check, fallback and vendor_id stay")
    func hostModelBecomesCustom() throws {
        let guest = try Self.cpu("""
            <cpu mode='host-model' check='partial'><model vendor_id='AuthenticXYZ'/><topology sockets='1' dies='1' cores='2' threads='1'/>\
            <feature policy='disable' name='fxsr_opt'/><feature policy='require' name='x2apic'/><feature policy='optional' name='avx2'/></cpu>
            """)
        #expect(HostModelCPUUpdate.needsHostModel(guest))
        let made = HostModelCPUUpdate.updated(guest, host: Self.host, map: Self.map)
        #expect(made.attributes.map { "\($0.name)=\($0.value)" } == ["mode=custom", "match=exact", "check=partial"])
        #expect(made.element(named: "model")?.text == "amd-old" && made.element(named: "model")?[attribute: "fallback"] == "allow")
        #expect(made.element(named: "model")?[attribute: "vendor_id"] == "AuthenticXYZ" && made.element(named: "vendor")?.text == "AMD")
        #expect(made.element(named: "topology")?[attribute: "cores"] == "2")
        // The host's fxsr_opt taken off by the guest; x2apic added; avx2, optional, is not the host's.
        #expect(Self.features(made) == ["disable:fxsr_opt", "require:x2apic", "disable:avx2"])
        #expect(made.elements.map(\.name) == ["model", "vendor", "topology", "feature", "feature", "feature"])
    }

    @Test("optional features follow the host; match='minimum' takes the host's model but keeps the guest's vendor; QEMU's unknown features are dropped")
    func optionalMinimumAndDropped() throws {
        let custom = try Self.cpu("<cpu mode='custom' match='exact'><model>plain</model><feature policy='optional' name='fxsr_opt'/><feature policy='optional' name='avx2'/><feature policy='require' name='osxsave'/></cpu>")
        let made = HostModelCPUUpdate.updated(custom, host: Self.host, map: Self.map)
        #expect(made.element(named: "model")?.text == "plain" && Self.features(made) == ["require:fxsr_opt", "disable:avx2", "require:osxsave"])
        #expect(Self.features(HostModelCPUUpdate.droppingFeaturesQEMUNeverHad(made)) == ["require:fxsr_opt", "disable:avx2"])
        let minimum = try Self.cpu("<cpu mode='custom' match='minimum'><model>plain</model><vendor>Intel</vendor><feature policy='require' name='avx2'/></cpu>")
        let raised = HostModelCPUUpdate.updated(minimum, host: Self.host, map: Self.map)
        #expect(raised[attribute: "match"] == "exact" && raised.element(named: "model")?.text == "amd-old" && raised.element(named: "vendor")?.text == "Intel")
        #expect(Self.features(raised) == ["require:fxsr_opt", "require:avx2"])
        // Without a host model nothing changes; host-passthrough is left whole.
        #expect(HostModelCPUUpdate.updated(custom, host: nil, map: Self.map) == custom)
        let passthrough = try Self.cpu("<cpu mode='host-passthrough'><feature policy='require' name='osxsave'/></cpu>")
        #expect(HostModelCPUUpdate.updated(passthrough, host: Self.host, map: Self.map) == passthrough && !HostModelCPUUpdate.needsHostModel(passthrough))
        #expect(HostModelCPUUpdate.droppingFeaturesQEMUNeverHad(passthrough) == passthrough)
    }

    @Test("a CPU the host model cannot give is refused with libvirt's messages; check='none' asks nothing")
    func incompatibilities() throws {
        func problem(_ xml: String) throws -> String? { HostCPUCompatibility.incompatibility(of: try Self.cpu(xml), host: Self.host, map: Self.map) }
        #expect(try problem("<cpu mode='host-model' check='partial'><feature policy='require' name='x2apic'/><feature policy='require' name='avx2'/></cpu>")
            == "Host CPU does not provide required features: x2apic, avx2")
        #expect(try problem("<cpu mode='host-model' check='partial'><feature policy='forbid' name='fxsr_opt'/></cpu>") == "Host CPU provides forbidden feature 'fxsr_opt'")
        #expect(try problem("<cpu mode='custom' match='exact' check='partial'><model>plain</model><feature policy='forbid' name='fpu'/></cpu>")
            == "Host CPU provides forbidden features: fpu")
        #expect(try problem("<cpu mode='custom' match='exact' check='partial'><model>intel</model><vendor>Intel</vendor></cpu>")
            == "host CPU vendor does not match required CPU vendor Intel")
        #expect(try problem("<cpu mode='custom' match='exact' check='partial'><model>intel</model></cpu>") == "Host CPU does not provide required features: avx2")
        // A feature the model has, disabled by the guest, is no longer required.
        #expect(try problem("<cpu mode='custom' match='exact' check='partial'><model>intel</model><feature policy='disable' name='avx2'/></cpu>") == nil)
        #expect(try problem("<cpu mode='custom' match='exact' check='none'><model>intel</model></cpu>") == nil)
        #expect(try problem("<cpu mode='custom' match='exact' check='partial'><model>unknown</model></cpu>") == nil)
    }

    @Test("hypervisor-cpu-compare's verdicts: identical, superset, a strict match's extra features, a host CPU's architecture, unknown names")
    func comparisons() throws {
        func compare(_ xml: String) throws -> HostCPUCompatibility.Comparison {
            try HostCPUCompatibility.compare(HostCPUCompatibility.Described(try Self.cpu(xml)), with: Self.host, map: Self.map)
        }
        #expect(try compare("<cpu mode='custom' match='exact'><model>amd-old</model><feature policy='require' name='fxsr_opt'/></cpu>") == .identical)
        #expect(try compare("<cpu mode='custom' match='exact'><model>plain</model></cpu>") == .superset)
        #expect(try compare("<cpu mode='custom' match='strict'><model>plain</model></cpu>") == .incompatible("Host CPU does not strictly match guest CPU: Extra features: fxsr_opt"))
        // A host CPU's features carry no policy: each is required.
        #expect(try compare("<cpu><arch>x86_64</arch><model>plain</model><feature name='avx2'/></cpu>") == .incompatible("Host CPU does not provide required features: avx2"))
        #expect(try compare("<cpu><arch>aarch64</arch><model>plain</model></cpu>") == .incompatible("CPU arch aarch64 does not match host arch"))
        #expect(throws: HostCPUCompatibility.UnknownName(description: "Unknown CPU model nosuch")) { try compare("<cpu mode='custom'><model>nosuch</model></cpu>") }
        #expect(throws: HostCPUCompatibility.UnknownName(description: "Unknown CPU feature nosuch")) { try compare("<cpu mode='custom'><model>plain</model><feature name='nosuch'/></cpu>") }
        #expect(HostCPUCompatibility.Comparison.superset.code == 2 && HostCPUCompatibility.Comparison.incompatible("").code == 0)
    }
}

@testable import CorralDaemon
import CorralJSON
import DomainXML
import QEMUCommandLine
import QEMUProbe
import Testing
import XMLTree

@Suite("The vCPU's CPUID words and the CPU asked for")
struct GuestCPUFeaturesTests {
    @Test("feature-words read as CPUID bits (a word without an ECX input is subleaf 0); anything else is not read")
    func featureWords() throws {
        let words = try JSONValue.parse("""
            [{"cpuid-register": "EDX", "cpuid-input-eax": 1, "features": 1},
             {"cpuid-register": "EBX", "cpuid-input-ecx": 0, "cpuid-input-eax": 7, "features": 32},
             {"cpuid-register": "EAX", "cpuid-input-ecx": 1, "cpuid-input-eax": 13, "features": 0},
             {"cpuid-register": "ECX", "cpuid-input-eax": 2147483649, "features": 4294967295}]
            """)
        var expected = X86CPUIDData()
        expected.add(1, at: .init(leaf: 1, subleaf: 0, register: .edx))
        expected.add(32, at: .init(leaf: 7, subleaf: 0, register: .ebx))
        expected.add(0xFFFF_FFFF, at: .init(leaf: 0x8000_0001, subleaf: 0, register: .ecx))
        #expect(GuestCPUFeatures.cpuidData(featureWords: words) == expected)
        for bad in ["{}", "[{\"cpuid-register\": \"EXX\", \"cpuid-input-eax\": 1, \"features\": 1}]",
                    "[{\"cpuid-register\": \"EAX\", \"cpuid-input-eax\": 1, \"features\": 4294967296}]",
                    "[{\"cpuid-register\": \"EAX\", \"cpuid-input-eax\": -1, \"features\": 1}]"] {
            #expect(GuestCPUFeatures.cpuidData(featureWords: try JSONValue.parse(bad)) == nil, "\(bad)")
        }
    }

    @Test("the CPU asked for is kept in the status file and put back in saved XML")
    func askedCPU() throws {
        let asked = try XMLTreeParser.parse("<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>")
        var status = GuestStatus(pid: 1, id: 2, state: .running, reason: 1, persistent: true, taints: [], qmpSocket: "/q", passthroughSocket: "/p", domainXML: "<domain/>")
        status.askedCPU = asked
        let read = try #require(GuestStatus(text: status.xml()))
        #expect(read.askedCPU?.attributes == asked.attributes && read.askedCPU?.element(named: "model")?.text == "qemu64")
        let live = try XMLTreeParser.parse("<domain id='2'><cpu mode='custom' match='exact' check='full'><model fallback='forbid'>qemu64</model><feature policy='require' name='hypervisor'/></cpu></domain>")
        var added = LiveDomainXML.RunAdditions()
        added.askedCPU = asked
        #expect(LiveDomainXML.inactiveForm(live, added: added).element(named: "cpu") == asked)
    }

    static func invocation(name: String, _ extra: String, vcpus: Int = 1) throws -> QEMUInvocation {
        let xml = """
            <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>\(name)</name><memory>65536</memory>
            <vcpu>\(vcpus)</vcpu><os><type>hvm</type></os>\(extra)</domain>
            """
        let context = CommandLineContext(
            emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: false, id: 1, runDirectory: "/run/corral/domains/\(name)")
        return try QEMUCommandLineBuilder.build(try DomainXMLParser.parse(xml).definition, context: context)
    }

    @Test("what QEMU made of a vCPU is remembered for the same emulator and CPU options only; a command line the QEMU namespace changed is read each time")
    func cacheKey() throws {
        let plain = try GuestCPUFeatures.cacheKey(Self.invocation(name: "a", ""))
        #expect(plain != nil)
        #expect(try GuestCPUFeatures.cacheKey(Self.invocation(name: "other-name", "")) == plain)
        #expect(try GuestCPUFeatures.cacheKey(Self.invocation(name: "a", "<cpu mode='custom'><model>Nehalem</model></cpu>")) != plain)
        #expect(try GuestCPUFeatures.cacheKey(Self.invocation(name: "a", "", vcpus: 2)) != plain)
        #expect(try GuestCPUFeatures.cacheKey(Self.invocation(name: "a", "<qemu:commandline><qemu:arg value='-global'/><qemu:arg value='cpu.x=on'/></qemu:commandline>")) == nil)
        var missing = try Self.invocation(name: "a", "")
        missing.executable = "/nonexistent/qemu"
        #expect(GuestCPUFeatures.cacheKey(missing) == nil)
    }
}

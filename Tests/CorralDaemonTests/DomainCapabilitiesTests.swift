@testable import CorralDaemon
import CorralProtocol
import Foundation
@testable import QEMUProbe
import Testing

@Suite("Domain capabilities")
struct DomainCapabilitiesTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static var emulator: EmulatorCapabilities {
        var emulator = EmulatorCapabilities(
            path: "/usr/bin/qemu-system-x86_64", version: 7_002_000,
            machines: [
                .init(name: "pc-i440fx-7.2", canonical: nil, maximumCPUs: 255, isDefault: true),
                .init(name: "pc", canonical: "pc-i440fx-7.2", maximumCPUs: 255, isDefault: false),
                .init(name: "pc-q35-7.2", canonical: nil, maximumCPUs: 288, isDefault: false),
                .init(name: "q35", canonical: "pc-q35-7.2", maximumCPUs: 288, isDefault: false),
            ],
            kvmUsable: false, configGroups: ["sandbox"])
        // No cirrus-vga: the video list follows the emulator's devices.
        emulator.deviceTypes = ["VGA", "qxl-vga", "virtio-vga", "bochs-display", "virtio-blk-pci"]
        emulator.cpuModels = [.init(name: "qemu64", usable: true, deprecated: false), .init(name: "Skylake-Client", usable: false, deprecated: false),
                              .init(name: "Skylake-Client-v2", usable: false, deprecated: false),
                              .init(name: "max", usable: true, deprecated: false), .init(name: "host", usable: false, deprecated: false)]
        return emulator
    }

    @Test("the document for a TCG host matches its golden file; aliases give the canonical machine and its vCPU limit")
    func golden() throws {
        let text = try DomainCapabilitiesXML.format(.init(), emulator: Self.emulator)
        let file = Self.golden.appendingPathComponent("domcapabilities-tcg.xml")
        if ProcessInfo.processInfo.environment["CORRAL_REGENERATE_GOLDEN"] != nil { try text.write(to: file, atomically: true, encoding: .utf8) }
        #expect(text == (try String(contentsOf: file, encoding: .utf8)))
        let q35 = try DomainCapabilitiesXML.format(.init(machine: "q35"), emulator: Self.emulator)
        #expect(q35.contains("<machine>pc-q35-7.2</machine>") && q35.contains("<vcpu max='288'/>"))
        var kvm = Self.emulator
        kvm.kvmUsable = true
        let withKVM = try DomainCapabilitiesXML.format(.init(), emulator: kvm)
        #expect(withKVM.contains("<domain>kvm</domain>") && withKVM.contains("<mode name='host-passthrough' supported='yes'/>"))
    }

    /// The messages are libvirtd 9.0's for the same requests (checked with virsh domcapabilities).
    @Test("requests the emulator cannot serve get libvirt's errors", arguments: [
        (DomainCapabilitiesXML.Request(virtType: "foo"), ErrorCode.invalidArgument, "unknown virttype: foo"),
        (DomainCapabilitiesXML.Request(virtType: "xen"), .invalidArgument, "Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'xen'"),
        (DomainCapabilitiesXML.Request(virtType: "kvm"), .invalidArgument, "Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'kvm'"),
        (DomainCapabilitiesXML.Request(arch: "foo"), .invalidArgument, "unknown architecture: foo"),
        (DomainCapabilitiesXML.Request(arch: "aarch64"), .configUnsupported, "unable to find any emulator to serve 'aarch64' architecture"),
        (DomainCapabilitiesXML.Request(machine: "foo"), .invalidArgument, "the machine 'foo' is not supported by emulator '/usr/bin/qemu-system-x86_64'"),
    ])
    func refusals(request: DomainCapabilitiesXML.Request, code: ErrorCode, message: String) {
        #expect {
            try DomainCapabilitiesXML.format(request, emulator: Self.emulator)
        } throws: { error in
            let error = error as? RemoteError
            return error?.code == code && error?.message?.hasSuffix(": " + message) == true
        }
    }

    @Test("a 32-bit guest's document is its own emulator's; that emulator serves no 64-bit guest")
    func thirtyTwoBit() throws {
        var i686 = Self.emulator
        i686.path = "/usr/bin/qemu-system-i386"
        let byArch = try DomainCapabilitiesXML.format(.init(arch: "i686"), emulator: Self.emulator, i686: i686)
        #expect(byArch.contains("<path>/usr/bin/qemu-system-i386</path>") && byArch.contains("<arch>i686</arch>"))
        let byPath = try DomainCapabilitiesXML.format(.init(emulator: "/usr/bin/qemu-system-i386"), emulator: Self.emulator, i686: i686)
        #expect(byPath.contains("<arch>i686</arch>"))
        // The 64-bit emulator also runs 32-bit guests, as libvirt's does.
        let onSixtyFour = try DomainCapabilitiesXML.format(.init(emulator: "/usr/bin/qemu-system-x86_64", arch: "i686"), emulator: Self.emulator, i686: i686)
        #expect(onSixtyFour.contains("<path>/usr/bin/qemu-system-x86_64</path>") && onSixtyFour.contains("<arch>i686</arch>"))
        #expect(throws: RemoteError.self) {
            try DomainCapabilitiesXML.format(.init(emulator: "/usr/bin/qemu-system-i386", arch: "x86_64"), emulator: Self.emulator, i686: i686)
        }
        let capabilities = CapabilitiesXML.format(host: HostInformation.current(), emulator: Self.emulator, i686: i686)
        let guests = capabilities.components(separatedBy: "<guest>").dropFirst()
        #expect(guests.count == 2 && guests.first?.contains("<arch name='i686'>") == true && guests.first?.contains("<pae/>") == true)
    }
}

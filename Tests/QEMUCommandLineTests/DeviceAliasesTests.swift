import DomainXML
import QEMUCommandLine
import Testing

/// libvirt's aliases (`qemu_alias.c`) for controllers and counted devices.
@Suite("Device aliases")
struct DeviceAliasesTests {
    @Test("controllers: pci.N, pcie.0, the chipset's own IDE or SATA as ide, usb for USB 0, else type and index")
    func controllers() {
        func alias(_ type: DomainDefinition.Controller.Kind, _ index: Int, model: String? = nil, machine: String = "pc-q35-7.2") -> String {
            DeviceAliases.controller(type: type, index: index, model: model, given: nil, machine: machine)
        }
        #expect(alias(.pci, 0, model: "pcie-root") == "pcie.0")
        #expect(alias(.pci, 0, model: "pci-root", machine: "pc-i440fx-7.2") == "pci.0")
        #expect(alias(.pci, 3, model: "pcie-root-port") == "pci.3")
        #expect(alias(.sata, 0) == "ide" && alias(.sata, 1) == "sata1")
        #expect(alias(.ide, 0, machine: "pc-i440fx-7.2") == "ide" && alias(.ide, 0) == "ide0")
        #expect(alias(.usb, 0) == "usb" && alias(.usb, 2) == "usb2")
        #expect(alias(.virtioSerial, 0) == "virtio-serial0" && alias(.scsi, 1) == "scsi1" && alias(.ccid, 0) == "ccid0")
        #expect(DeviceAliases.controller(type: .usb, index: 0, model: nil, given: "ua-hub", machine: nil) == "ua-hub")
    }

    @Test("RNGs, filesystems and host devices count on from the highest number in use; a user alias takes none")
    func counted() {
        #expect(DeviceAliases.counted("rng", given: [nil, nil]) == ["rng0", "rng1"])
        #expect(DeviceAliases.counted("rng", given: ["ua-first", nil]) == ["ua-first", "rng0"])
        #expect(DeviceAliases.counted("rng", given: [nil, "rng5", nil]) == ["rng6", "rng5", "rng7"])
        // A number too large to be libvirt's int does not count.
        #expect(DeviceAliases.counted("fs", given: ["fs99999999999999999999", nil]) == ["fs99999999999999999999", "fs0"])
        #expect(DeviceAliases.counted("fs", given: ["fs2147483647", nil]) == ["fs2147483647", "fs0"])
    }
}

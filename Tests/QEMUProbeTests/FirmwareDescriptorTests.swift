import Foundation
import QEMUProbe
import Testing

@Suite("Firmware descriptors")
struct FirmwareDescriptorTests {
    static func descriptor(_ executable: String, template: String?, machines: [String], features: [String], interface: String = "uefi") -> String {
        let nvram = template.map { #", "nvram-template": {"filename": "\#($0)", "format": "raw"}"# } ?? ""
        let machineList = machines.map { "\"\($0)\"" }.joined(separator: ", ")
        let featureList = features.map { "\"\($0)\"" }.joined(separator: ", ")
        return """
            {"interface-types": ["\(interface)"], "mapping": {"device": "flash", "executable": {"filename": "\(executable)", "format": "raw"}\(nvram)},
             "targets": [{"architecture": "x86_64", "machines": [\(machineList)]}], "features": [\(featureList)], "tags": []}
            """
    }

    /// Debian 12's ovmf package installs these three (the same names, order and features).
    static func debianLayout() throws -> (directory: String, etc: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("corral-fw-\(UUID().uuidString.prefix(8))").path
        let share = root + "/share", etc = root + "/etc"
        for directory in [share, etc] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try descriptor("/ovmf/CODE.ms.fd", template: "/ovmf/VARS.ms.fd", machines: ["pc-q35-*"], features: ["acpi-s3", "enrolled-keys", "requires-smm", "secure-boot"])
            .write(toFile: share + "/40-edk2-x86_64-secure-enrolled.json", atomically: true, encoding: .utf8)
        try descriptor("/ovmf/CODE.secboot.fd", template: "/ovmf/VARS.fd", machines: ["pc-q35-*"], features: ["acpi-s3", "requires-smm", "secure-boot"])
            .write(toFile: share + "/50-edk2-x86_64-secure.json", atomically: true, encoding: .utf8)
        try descriptor("/ovmf/CODE.fd", template: "/ovmf/VARS.fd", machines: ["pc-i440fx-*", "pc-q35-*"], features: ["acpi-s3"])
            .write(toFile: share + "/60-edk2-x86_64.json", atomically: true, encoding: .utf8)
        try "{ not json".write(toFile: share + "/70-broken.json", atomically: true, encoding: .utf8)
        return (share, etc)
    }

    @Test("descriptors are read in file-name order; the first UEFI one for the machine that meets the features wins, as libvirt picks")
    func selection() throws {
        let (share, etc) = try Self.debianLayout()
        defer { try? FileManager.default.removeItem(atPath: (share as NSString).deletingLastPathComponent) }
        let all = FirmwareDescriptor.installed(in: [etc, share])
        #expect(all.map(\.executable) == ["/ovmf/CODE.ms.fd", "/ovmf/CODE.secboot.fd", "/ovmf/CODE.fd"])
        func pick(_ machine: String, required: Set<String> = [], excluded: Set<String> = [], smmOff: Bool = false) -> String? {
            FirmwareDescriptor.selectUEFI(from: all, architecture: "x86_64", machine: machine, required: required, excluded: excluded, smmOff: smmOff)?.executable
        }
        #expect(pick("pc-q35-7.2") == "/ovmf/CODE.ms.fd")
        #expect(FirmwareDescriptor.selectUEFI(from: all, architecture: "x86_64", machine: "pc-q35-7.2", required: [], excluded: [], smmOff: false)?.requiresSMM == true)
        #expect(pick("pc-q35-7.2", excluded: ["enrolled-keys"]) == "/ovmf/CODE.secboot.fd")
        #expect(pick("pc-q35-7.2", excluded: ["secure-boot"]) == "/ovmf/CODE.fd")
        #expect(pick("pc-q35-7.2", smmOff: true) == "/ovmf/CODE.fd")
        #expect(pick("pc-i440fx-7.2") == "/ovmf/CODE.fd")
        #expect(pick("pc-i440fx-7.2", required: ["secure-boot"]) == nil)
        #expect(pick("microvm") == nil)
        // A file in /etc masks the one of the same name; an empty one hides it.
        try "".write(toFile: etc + "/40-edk2-x86_64-secure-enrolled.json", atomically: true, encoding: .utf8)
        try Self.descriptor("/local/CODE.fd", template: nil, machines: ["pc-q35-*"], features: [])
            .write(toFile: etc + "/50-edk2-x86_64-secure.json", atomically: true, encoding: .utf8)
        let masked = FirmwareDescriptor.installed(in: [etc, share])
        #expect(masked.map(\.executable) == ["/local/CODE.fd", "/ovmf/CODE.fd"])
        #expect(masked.first?.nvramTemplate == nil)
    }

    @Test("a stateless guest takes only a stateless flash, any other only a split one; an unknown mode is not a usable descriptor")
    func statelessSelection() throws {
        func read(_ mode: String?, executable: String) throws -> FirmwareDescriptor {
            var json = Self.descriptor(executable, template: mode == "stateless" ? nil : "/ovmf/VARS.fd", machines: ["pc-q35-*"], features: [])
            if let mode { json = json.replacingOccurrences(of: #""device": "flash","#, with: #""device": "flash", "mode": "\#(mode)","#) }
            return try #require(FirmwareDescriptor.parse(Data(json.utf8), file: executable))
        }
        let split = try read(nil, executable: "/ovmf/CODE.fd"), combined = try read("combined", executable: "/ovmf/COMBINED.fd")
        let stateless = try read("stateless", executable: "/ovmf/STATELESS.fd")
        #expect(split.mode == .split && combined.mode == .combined && stateless.mode == .stateless)
        let all = [combined, split, stateless]
        func pick(stateless: Bool) -> String? {
            FirmwareDescriptor.selectUEFI(from: all, architecture: "x86_64", machine: "pc-q35-7.2", required: [], excluded: [], smmOff: false, stateless: stateless)?.executable
        }
        #expect(pick(stateless: false) == "/ovmf/CODE.fd")
        #expect(pick(stateless: true) == "/ovmf/STATELESS.fd")
        #expect(FirmwareDescriptor.selectUEFI(from: [split], architecture: "x86_64", machine: "pc-q35-7.2", required: [], excluded: [], smmOff: false, stateless: true) == nil)
        let unknown = Self.descriptor("/x.fd", template: nil, machines: [], features: []).replacingOccurrences(of: #""device": "flash","#, with: #""device": "flash", "mode": "other","#)
        #expect(FirmwareDescriptor.parse(Data(unknown.utf8), file: "/x.json") == nil)
    }
}

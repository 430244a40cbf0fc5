import DomainXML
import Foundation
import POSIXSupport
import QEMUCommandLine
import QEMUConfig
import QEMUProbe
import Testing

/// QEMU itself accepts the command lines of the golden corpus: a sample of the cases (those that
/// need no disk images, host devices or fixed TCP ports) is started with its argv (which has
/// `-S`), answers QMP, and quits when told to.
@Suite("QEMU accepts the golden command lines")
struct GoldenArgvAcceptanceTests {
    static let golden = BuiltProducts.packageRoot.appendingPathComponent("Tests/QEMUCommandLineTests/Golden")
    static let sample = [
        "minimal", "minimal-pc", "machine-default", "vcpu-topology", "cpu-maximum", "clock-localtime", "features-no-acpi", "memory-units",
        "serial-pty", "serials-two", "channel-guest-agent", "input-usb-tablet", "input-virtio", "video-virtio", "video-qxl", "video-none",
        "sound-ich9", "sound-ac97", "watchdog-i6300esb", "watchdog-itco", "memballoon-none", "rng-virtio", "interface-user",
        "interface-model-e1000", "qemu-commandline-env", "qemu-capabilities-del-device-json", "qemu-deprecation-reject", "qemu-alter-rename",
        "qemu-alter-match-modify", "qemu-alter-remove", "qemu-alter-extra", "qemu-config-sections", "name-with-comma", "generated-uuid-and-mac",
    ]

    static var options: DomainXMLOptions {
        var options = DomainXMLOptions()
        options.machineAliases = ["q35": "pc-q35-7.2", "pc": "pc-i440fx-7.2"]
        options.defaultMachine = "pc-i440fx-7.2"
        options.defaultCPUModels = ["pc-q35-7.2": "qemu64", "pc-i440fx-7.2": "qemu64"]
        return options
    }

    @Test("each sampled golden case starts in QEMU and quits over QMP", arguments: sample)
    func qemuAccepts(_ name: String) throws {
        let xml = try String(contentsOf: Self.golden.appendingPathComponent(name + ".xml"), encoding: .utf8)
        #expect(FileManager.default.fileExists(atPath: Self.golden.appendingPathComponent(name + ".args").path), "\(name) is a golden argv case")
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("corral-golden-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let parsed = try DomainXMLParser.parse(xml, options: Self.options)
        let directory = base + "/" + parsed.definition.name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let context = CommandLineContext(
            emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: false, id: 1, runDirectory: directory,
            privileged: true, passthroughEnvironment: ["PATH": "/usr/bin:/bin"])
        let invocation = try QEMUCommandLineBuilder.build(parsed.definition, context: context)
        if let sections = invocation.configFile {
            try QEMUConfigWriter.write(sections).write(toFile: context.configFilePath, atomically: true, encoding: .utf8)
        }
        let errorLog = base + "/qemu.err"
        let errors = open(errorLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(errors) }
        let qemu = try ChildProcess.spawn(
            invocation.executable, invocation.arguments, environment: invocation.environment,
            standardOutput: .null, standardError: .descriptor(errors))
        defer { qemu.stop(grace: 5) }
        let client: QMPTestClient
        do {
            client = try QMPTestClient(path: context.qmpSocket)
        } catch {
            Issue.record("QEMU refused \(name): \((try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "")")
            return
        }
        let status = try client.execute("query-status") as? [String: Any]
        #expect(status?["status"] as? String == "prelaunch")
        _ = try? client.execute("quit")
        #expect(qemu.wait(timeout: 10) == .exited(0), "QEMU for \(name) did not quit cleanly: \((try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "")")
    }
}

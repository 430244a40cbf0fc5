import DomainXML
import Foundation
import QEMUCommandLine
import QEMUProbe
import Testing

/// Golden files in the style of libvirt's `qemuxmlconftest`: `Golden/NAME.xml` is a domain,
/// `Golden/NAME.args` the exact environment and argv Corral gives QEMU for it (one per line), or
/// `Golden/NAME.err` the error it refuses it with. `Scripts/regenerate-golden.sh` rewrites them
/// on purpose (`CORRAL_REGENERATE_GOLDEN=1`); a diff shows what a change did to QEMU's argv.
@Suite("Golden command lines")
struct GoldenCommandLineTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static let regenerate = ProcessInfo.processInfo.environment["CORRAL_REGENERATE_GOLDEN"] == "1"

    static var cases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".xml") }.map { String($0.dropLast(4)) }.sorted()
    }

    /// What the machine here reports of QEMU 7.2, fixed so the files do not depend on the host.
    static var options: DomainXMLOptions {
        var options = DomainXMLOptions()
        options.defaultEmulator = "/usr/bin/qemu-system-x86_64"
        options.machineAliases = ["q35": "pc-q35-7.2", "pc": "pc-i440fx-7.2"]
        options.defaultMachine = "pc-i440fx-7.2"
        options.defaultCPUModels = ["pc-q35-7.2": "qemu64", "pc-i440fx-7.2": "qemu64"]
        options.random = .seeded(1)
        return options
    }

    /// The invocation for a golden case, in `runDirectory`; a case whose XML says
    /// `corral-golden: no-kvm` is built for a host without usable KVM, and one that says
    /// `corral-golden: taps` gets a tap from the daemon (`vnetN`) for each network, bridge and
    /// ethernet interface.
    static func invocation(_ xml: String, runDirectory: (String) -> String) throws -> QEMUInvocation {
        let parsed = try DomainXMLParser.parse(xml, options: options)
        var context = CommandLineContext(
            emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: !xml.contains("corral-golden: no-kvm"), id: 1,
            runDirectory: runDirectory(parsed.definition.name), vncDisplay: 0, privileged: true, passthroughEnvironment: ["PATH": "/usr/bin:/bin"])
        context.spicePort = 5901
        if xml.contains("corral-golden: taps") {
            for (index, interface) in parsed.definition.devices.interfaces.enumerated() where [.network, .bridge, .ethernet].contains(interface.type) {
                context.interfaceConnections[index] = .init(tap: "vnet\(index)", bridge: interface.type == .ethernet ? nil : "virbr0")
            }
        }
        return try QEMUCommandLineBuilder.build(parsed.definition, context: context)
    }

    /// The expected file's name and text for a case.
    static func render(_ name: String) throws -> (file: String, text: String) {
        let xml = try String(contentsOf: directory.appendingPathComponent(name + ".xml"), encoding: .utf8)
        do {
            let invocation = try invocation(xml) { "/run/corral/domains/" + $0 }
            let lines = invocation.environment.map { "\($0.0)=\($0.1)" } + [invocation.executable] + invocation.arguments
            return (name + ".args", lines.joined(separator: "\n") + "\n")
        } catch let error as CommandLineError {
            return (name + ".err", error.message + "\n")
        } catch let error as DomainXMLError {
            return (name + ".err", error.description + "\n")
        }
    }

    @Test("every case gives exactly its golden argv or error", arguments: cases)
    func golden(_ name: String) throws {
        let (file, text) = try Self.render(name)
        let path = Self.directory.appendingPathComponent(file)
        if Self.regenerate {
            for other in [name + ".args", name + ".err"] where other != file {
                try? FileManager.default.removeItem(at: Self.directory.appendingPathComponent(other))
            }
            try text.write(to: path, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: path, encoding: .utf8) else {
            Issue.record("\(name): no \(file) (the case now gives \(file.hasSuffix(".err") ? "an error" : "an argv")); run Scripts/regenerate-golden.sh and review the diff")
            return
        }
        #expect(text == expected, "\(name) differs from \(file); if that is intended, run Scripts/regenerate-golden.sh")
    }

    @Test("the corpus covers at least 60 cases, errors included")
    func corpusSize() {
        let errors = Self.cases.filter { FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent($0 + ".err").path) }
        #expect(Self.cases.count >= 60)
        #expect(errors.count >= 8)
    }
}

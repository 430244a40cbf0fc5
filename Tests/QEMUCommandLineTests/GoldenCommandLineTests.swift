import DomainXML
import Foundation
import QEMUCommandLine
import QEMUProbe
import Testing

/// The domain XML corpus, golden files in the style of libvirt's `qemuxmlconftest`:
/// `Golden/NAME.xml` is a domain; `Golden/NAME.dumpxml` what `dumpxml --inactive` gives after
/// it is defined (absent when define refuses it); `Golden/NAME.args` the exact environment and
/// argv Corral gives QEMU for it (one per line), or `Golden/NAME.err` the error it refuses it
/// with, at define or at start. `Scripts/regenerate-golden.sh` rewrites them on purpose
/// (`CORRAL_REGENERATE_GOLDEN=1`); a diff shows what a change did to the definition and argv.
/// QEMU starts every argv (`GoldenArgvAcceptanceTests`), corrald gives every dumpxml, and
/// libvirtd's dumpxml is compared (`tests-python/test_domain_corpus.py`).
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
        // 32-bit guests' own emulator, qemu-system-i386, with its default CPU model.
        var i686 = DomainXMLOptions.EmulatorDefaults(emulator: "/usr/bin/qemu-system-i386")
        i686.machineAliases = options.machineAliases
        i686.defaultMachine = options.defaultMachine
        i686.defaultCPUModels = ["pc-q35-7.2": "qemu32", "pc-i440fx-7.2": "qemu32"]
        options.i686 = i686
        options.random = .seeded(1)
        return options
    }

    /// The options for a case: one that says `corral-golden: spice-tls` is defined as under a
    /// daemon with SPICE's TLS on (`spice_tls = 1`).
    static func options(for xml: String) -> DomainXMLOptions {
        var options = options
        options.spiceTLS = xml.contains("corral-golden: spice-tls")
        return options
    }

    /// The host's huge pages for every case: 2 MiB (the default) and 1 GiB pages.
    static let goldenHugePages = HostHugePages(sizesKiB: [2048, 1_048_576], defaultSizeKiB: 2048)

    /// The invocation for a golden case, in `runDirectory`; a case whose XML says
    /// `corral-golden: no-kvm` is built for a host without usable KVM, one that says
    /// `corral-golden: tls-endpoints` under `chardev_tls = 1` and `nbd_tls = 1`, and one that says
    /// `corral-golden: taps` gets a tap from the daemon (`vnetN`) for each network, bridge and
    /// ethernet interface, and a macvtap (`macvtapN`, its tap descriptors from 3) for each direct one.
    static func invocation(_ xml: String, runDirectory: (String) -> String) throws -> QEMUInvocation {
        let parsed = try DomainXMLParser.parse(xml, options: options(for: xml))
        var context = CommandLineContext(
            emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: !xml.contains("corral-golden: no-kvm"), id: 1,
            runDirectory: runDirectory(parsed.definition.name), vncDisplay: 0, privileged: true, passthroughEnvironment: ["PATH": "/usr/bin:/bin"])
        context.spicePort = 5901
        if xml.contains("corral-golden: spice-tls") {
            // SPICE's TLS on, with libvirt's certificate directory and a TLS port chosen next.
            context.spiceTLSDirectory = "/etc/pki/libvirt-spice"
            context.spiceTLSPort = 5902
        }
        if xml.contains("corral-golden: tls-endpoints") {
            // qemu.conf's chardev_tls = 1 and nbd_tls = 1, with libvirt's fallback directory.
            context.characterDeviceTLS.byDefault = true
            context.networkDiskTLS.byDefault = true
        }
        context.hugePages = goldenHugePages
        // A fixed start for variable and absolute clocks: 2026-01-01T00:00:00Z, on a host an
        // hour ahead of UTC.
        context.clockReference = ClockReference(utcSeconds: 1_767_225_600, localOffsetSeconds: 3600)
        // A stand-in for the render node the daemon chooses for OpenGL displays that name none.
        if parsed.definition.devices.graphics.contains(where: { $0.rendersWithOpenGL && $0.renderNode == nil }) {
            context.renderNode = "/dev/dri/renderD128"
        }
        // Stand-ins for the secret driver's values (the argv names only their files).
        for (index, disk) in parsed.definition.devices.disks.enumerated()
        where disk.network?.authentication != nil || disk.encryption != nil || disk.backingChain.contains(where: { $0.network?.authentication != nil || $0.encryption != nil }) {
            context.diskSecrets[index] = .init(
                authentication: disk.network?.authentication.map { _ in Array("auth-\(disk.targetDevice)".utf8) },
                encryption: disk.encryption.map { _ in Array("passphrase-\(disk.targetDevice)".utf8) },
                backingAuthentication: Dictionary(uniqueKeysWithValues: disk.backingChain.enumerated().compactMap { position, layer in
                    layer.network?.authentication.map { _ in (position, Array("auth-\(disk.targetDevice)-\(position)".utf8)) }
                }),
                backingEncryption: Dictionary(uniqueKeysWithValues: disk.backingChain.enumerated().compactMap { position, layer in
                    layer.encryption.map { _ in (position, Array("passphrase-\(disk.targetDevice)-\(position)".utf8)) }
                }))
        }
        // Stand-ins for what the daemon finds on the host: USB devices at bus 1 from device 2 on
        // (a missing one when the case says so), PCI functions bound to vfio-pci.
        for (index, hostDevice) in parsed.definition.devices.hostDevices.enumerated() {
            switch hostDevice.type {
            case .usb:
                context.hostDeviceBindings[index] = xml.contains("corral-golden: usb-missing")
                    ? .usbMissing : .usb(bus: hostDevice.usb?.bus ?? 1, device: hostDevice.usb?.device ?? 2 + index)
            case .pci: context.hostDeviceBindings[index] = .pci
            case .mdev: context.hostDeviceBindings[index] = .mediated
            case .scsi:
                // An iSCSI LUN QEMU reaches (a stand-in password for its <auth>), or the host's
                // SCSI generic node of a device on a host adapter.
                context.hostDeviceBindings[index] = hostDevice.iscsi.map { .iscsi(password: $0.authentication.map { _ in Array("auth-hostdev\(index)".utf8) }) }
                    ?? .scsiGeneric("/dev/sg\(index)")
            default: break
            }
        }
        // The context ID the daemon would bind on /dev/vhost-vsock (the given one, else 3), and
        // the descriptor QEMU gets it as.
        if let vsock = parsed.definition.devices.vsock { context.vsock = (cid: vsock.cid ?? 3, descriptor: 3) }
        if xml.contains("corral-golden: taps") {
            for (index, interface) in parsed.definition.devices.interfaces.enumerated() where [.network, .bridge, .ethernet].contains(interface.type) {
                context.interfaceConnections[index] = .init(tap: "vnet\(index)", bridge: interface.type == .ethernet ? nil : "virbr0")
            }
            // A direct interface's macvtap, and a tap opened through its `<backend tap>` node,
            // whose descriptors (one per queue) QEMU inherits after the vsock's, as the daemon
            // numbers them (in interface order).
            var descriptor: Int32 = parsed.definition.devices.vsock == nil ? 3 : 4
            for (index, interface) in parsed.definition.devices.interfaces.enumerated()
            where interface.type == .direct || (interface.tapDevicePath != nil && context.interfaceConnections[index] != nil) {
                var connection = context.interfaceConnections[index] ?? CommandLineContext.InterfaceConnection(tap: "macvtap\(index)", bridge: nil)
                for _ in 0..<max(interface.driver?.queues ?? 1, 1) {
                    connection.qemuDescriptors.append(String(descriptor))
                    descriptor += 1
                }
                context.interfaceConnections[index] = connection
            }
        }
        return try QEMUCommandLineBuilder.build(parsed.definition, context: context)
    }

    /// The expected file's name and text for a case.
    static func render(_ name: String) throws -> (file: String, text: String) {
        let xml = try String(contentsOf: directory.appendingPathComponent(name + ".xml"), encoding: .utf8)
        do {
            // What the daemon refuses to start: XML Corral does not model.
            let parsed = try DomainXMLParser.parse(xml, options: options(for: xml))
            if let refusal = ParsedDomain.startRefusal(name: parsed.definition.name, unmodelled: parsed.unmodelled) { return (name + ".err", refusal + "\n") }
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

    /// The expected `dumpxml --inactive` after define, or `nil` when define refuses the case.
    static func renderDefinition(_ name: String) throws -> String? {
        let xml = try String(contentsOf: directory.appendingPathComponent(name + ".xml"), encoding: .utf8)
        guard let parsed = try? DomainXMLParser.parse(xml, options: options(for: xml)) else { return nil }
        // As dumpxml gives it: without the graphics passwords (VIR_DOMAIN_XML_SECURE shows them).
        return DomainSecrets.stripped(parsed.xml) + "\n"
    }

    @Test("every case defines to exactly its golden dumpxml, or is refused at define", arguments: cases)
    func goldenDefinition(_ name: String) throws {
        let text = try Self.renderDefinition(name)
        let path = Self.directory.appendingPathComponent(name + ".dumpxml")
        if Self.regenerate {
            if let text { try text.write(to: path, atomically: true, encoding: .utf8) } else { try? FileManager.default.removeItem(at: path) }
            return
        }
        let expected = try? String(contentsOf: path, encoding: .utf8)
        #expect(text == expected, "\(name): its definition differs from \(name).dumpxml; if that is intended, run Scripts/regenerate-golden.sh")
        // The document Corral keeps defines to itself: dumpxml output fed back is unchanged,
        // except that libvirt's parser puts controllers of a type together (a controller it
        // added, such as virtio-serial, then moves after the PCI ports it added later, as
        // libvirtd's own dumpxml does when defined again); from then on it is unchanged.
        // A display password's expiry and `connected` go with the password, which dumpxml hides
        // (libvirt reads them only beside one): they are left out of the comparison.
        let options = Self.options(for: try String(contentsOf: Self.directory.appendingPathComponent(name + ".xml"), encoding: .utf8))
        if let text = text.map(Self.withoutPasswordCompanions) {
            let again = try Self.withoutPasswordCompanions(DomainSecrets.stripped(DomainXMLParser.parse(text, options: options).xml) + "\n")
            if again != text {
                #expect(again.split(separator: "\n").sorted() == text.split(separator: "\n").sorted(), "\(name): its dumpxml defines to other lines than its own")
                #expect(try DomainSecrets.stripped(DomainXMLParser.parse(again, options: options).xml) + "\n" == again, "\(name): its dumpxml does not settle")
            }
        }
    }

    /// `text` without `passwdValidTo` and `connected` attributes.
    static func withoutPasswordCompanions(_ text: String) -> String {
        text.replacing(#/ (passwdValidTo|connected)='[^']*'/#, with: "")
    }

    @Test("the corpus holds at least 200 cases, errors included")
    func corpusSize() {
        let errors = Self.cases.filter { FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent($0 + ".err").path) }
        #expect(Self.cases.count >= 200)
        #expect(errors.count >= 8)
    }
}

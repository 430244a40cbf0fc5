import DomainXML
import Foundation
import POSIXSupport
import QEMUCommandLine
import QEMUConfig
import QEMUProbe
import Testing
import XMLTree

/// QEMU itself accepts the command lines of the domain XML corpus: every case with a golden argv
/// is started with its argv (which has `-S`) on a stand-in host (``CorpusHost``: its disk
/// images, directories, sockets, kernel and TPM made under a scratch directory, and its taps in
/// a network namespace of the test's), answers QMP, and quits when told to.
@Suite("QEMU accepts the golden command lines")
struct GoldenArgvAcceptanceTests {
    static let golden = BuiltProducts.packageRoot.appendingPathComponent("Tests/QEMUCommandLineTests/Golden")

    /// Cases this machine cannot run, and why; each is still checked for its argv and dumpxml.
    static let needsMoreThanThisHost: [String: String] = [
        "kvm-host-passthrough": "host-passthrough needs KVM",
        "features-hyperv-all": "Hyper-V enlightenments such as VP_INDEX need KVM",
        "tpm-passthrough": "needs a host TPM (/dev/tpm0)",
        "interface-bridge": "qemu-bridge-helper needs the bridge allowed in /etc/qemu/bridge.conf, which a test does not edit",
        "interfaces-two": "qemu-bridge-helper needs the bridge allowed in /etc/qemu/bridge.conf, which a test does not edit",
        "memory-backing-hugepages": "needs 128 free 2 MiB huge pages (vm.nr_hugepages); tests-python/test_memory_backing.py reserves them",
        "memory-backing-hugepages-numa-nodeset": "needs 64 free 2 MiB huge pages (vm.nr_hugepages)",
        "memory-backing-hugepages-1g-memfd": "needs two free 1 GiB huge pages",
        "smartcard-host": "QEMU's emulated card reads the host's smartcard readers through /etc/pki/nssdb; this machine has none",
        "hostdev-pci": "vfio-pci needs a PCI function bound to vfio-pci behind an IOMMU; this machine has no IOMMU",
        "hostdev-scsi-adapter": "scsi-generic needs a host SCSI device's generic node (/dev/sg0); this machine has no SCSI devices",
        "disk-nvme": "QEMU's NVMe driver needs NVMe controllers bound to vfio-pci behind an IOMMU; this machine has neither",
        "hostdev-mdev": "vfio-pci needs the mediated devices (/sys/bus/mdev/devices/…) of a GPU or other mdev-capable device; this machine has none",
        "vsock-virtio": "vhost-vsock-pci needs /dev/vhost-vsock (the vhost_vsock module); this machine's kernel has none",
        "vsock-transitional": "vhost-vsock-pci-transitional needs /dev/vhost-vsock (the vhost_vsock module); this machine's kernel has none",
        "vsock-auto": "vhost-vsock-pci needs /dev/vhost-vsock (the vhost_vsock module); this machine's kernel has none",
        "audio-host-servers": "PulseAudio, JACK and SDL backends need QEMU's qemu-system-gui modules and a sound server; Core Audio is in macOS builds of QEMU only",
        "graphics-egl-headless": "OpenGL rendering needs a DRM render node (/dev/dri/renderD*) and QEMU's OpenGL modules (qemu-system-gui); this machine has neither",
        "graphics-egl-headless-vnc": "OpenGL rendering needs a DRM render node (/dev/dri/renderD*) and QEMU's OpenGL modules (qemu-system-gui); this machine has neither",
        "graphics-spice-gl": "OpenGL rendering needs a DRM render node (/dev/dri/renderD*) and QEMU's OpenGL modules (qemu-system-gui); this machine has neither",
        "video-virtio-accel3d": "virtio-vga-gl needs QEMU's OpenGL modules (qemu-system-gui) and an OpenGL display",
        "input-evdev": "input-linux reads host event devices (/dev/input/event2, event3); this machine has no input devices",
        "input-passthrough": "virtio-input-host-pci reads a host event device (/dev/input/event1); this machine has no input devices",
        "crypto-lkcf": "cryptodev-backend-lkcf is in QEMU builds with the kernel's key utilities (keyutils); Debian's QEMU 7.2 has none",
        "parallel-dev": "QEMU claims a host parallel port through ppdev (/dev/parport0); this machine has none, and a pseudo-terminal is no parallel port",
    ]

    /// Free huge pages the host has of `sizeKiB`, for the huge page cases.
    static func freeHugePages(sizeKiB: Int) -> Int {
        let path = "/sys/kernel/mm/hugepages/hugepages-\(sizeKiB)kB/free_hugepages"
        return Int(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Whether this host can run a case of ``needsMoreThanThisHost`` after all.
    static func hostHasWhatItNeeds(_ name: String) -> Bool {
        switch name {
        case "tpm-passthrough": FileManager.default.fileExists(atPath: "/dev/tpm0")
        case "vsock-virtio", "vsock-auto", "vsock-transitional": FileManager.default.fileExists(atPath: "/dev/vhost-vsock")
        case "parallel-dev": FileManager.default.fileExists(atPath: "/dev/parport0")
        case "input-evdev": ["/dev/input/event2", "/dev/input/event3"].allSatisfy { FileManager.default.fileExists(atPath: $0) }
        case "input-passthrough": FileManager.default.fileExists(atPath: "/dev/input/event1")
        case "graphics-egl-headless", "graphics-egl-headless-vnc", "graphics-spice-gl", "video-virtio-accel3d":
            FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/qemu/hw-display-virtio-gpu-gl.so")
                && ((try? FileManager.default.contentsOfDirectory(atPath: "/dev/dri")) ?? []).contains { $0.hasPrefix("renderD") }
        case "hostdev-pci": FileManager.default.fileExists(atPath: "/sys/bus/pci/devices/0000:06:02.0/driver/module/drivers/pci:vfio-pci")
        case "hostdev-scsi-adapter": FileManager.default.fileExists(atPath: "/dev/sg0")
        case "disk-nvme": FileManager.default.fileExists(atPath: "/sys/bus/pci/devices/0000:01:00.0/driver/module/drivers/pci:vfio-pci")
        case "hostdev-mdev": FileManager.default.fileExists(atPath: "/sys/bus/mdev/devices/53764d0e-85a0-42b4-af5c-2046b460b1dc")
        case "memory-backing-hugepages": freeHugePages(sizeKiB: 2048) >= 128
        case "memory-backing-hugepages-numa-nodeset": freeHugePages(sizeKiB: 2048) >= 64
        case "memory-backing-hugepages-1g-memfd": freeHugePages(sizeKiB: 1_048_576) >= 2
        default: false
        }
    }

    static var argvCases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: golden.path)) ?? []).filter { $0.hasSuffix(".args") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// The cases started here: every argv case but those this machine cannot run (a host TPM
    /// makes `tpm-passthrough` one of them, free huge pages the huge page cases). While working
    /// on some cases, `CORRAL_GOLDEN_PREFIX=filesystem-` starts only those named so.
    static var cases: [String] {
        let prefix = ProcessInfo.processInfo.environment["CORRAL_GOLDEN_PREFIX"] ?? ""
        return argvCases.filter { $0.hasPrefix(prefix) && (needsMoreThanThisHost[$0] == nil || hostHasWhatItNeeds($0)) }
    }

    static var options: DomainXMLOptions {
        var options = DomainXMLOptions()
        options.machineAliases = ["q35": "pc-q35-7.2", "pc": "pc-i440fx-7.2"]
        options.defaultMachine = "pc-i440fx-7.2"
        options.defaultCPUModels = ["pc-q35-7.2": "qemu64", "pc-i440fx-7.2": "qemu64"]
        // 32-bit guests' own emulator, qemu-system-i386, with its default CPU model.
        var i686 = DomainXMLOptions.EmulatorDefaults(emulator: "/usr/bin/qemu-system-i386")
        i686.machineAliases = options.machineAliases
        i686.defaultMachine = options.defaultMachine
        i686.defaultCPUModels = ["pc-q35-7.2": "qemu32", "pc-i440fx-7.2": "qemu32"]
        options.i686 = i686
        return options
    }

    /// Removes the storage nodes of network disks and network backing layers, every node above
    /// them (the format nodes on them, the layers they back) and the devices on those, from
    /// `invocation`; returns the storage nodes' options (QMP arguments of `blockdev-add`).
    static func takeNetworkDisks(from invocation: inout QEMUInvocation) -> [[String: Any]] {
        let networkDrivers: Set = ["iscsi", "rbd", "gluster", "ssh", "nfs", "http", "https", "ftp", "ftps", "nbd"]
        let json = { (option: QEMUOption) -> [String: Any]? in
            option.value.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        let nodes = invocation.options.compactMap { $0.name == "-blockdev" ? json($0) : nil }
        let storage = nodes.filter { ($0["driver"] as? String).map(networkDrivers.contains) == true }
        var removed = Set(storage.compactMap { $0["node-name"] as? String })
        // Every node whose file or backing is a removed node, until none is left.
        while true {
            let above = nodes.filter { node in
                guard let name = node["node-name"] as? String, !removed.contains(name) else { return false }
                return removed.contains(node["file"] as? String ?? "") || removed.contains(node["backing"] as? String ?? "")
            }
            if above.isEmpty { break }
            for node in above { removed.insert(node["node-name"] as? String ?? "") }
        }
        invocation.options.removeAll { option in
            guard option.name == "-blockdev" || option.name == "-device", let value = json(option) else { return false }
            return removed.contains(value["node-name"] as? String ?? "") || removed.contains(value["drive"] as? String ?? "")
        }
        return storage
    }

    @Test("the cases this machine cannot run are few and each has a golden argv")
    func exclusions() {
        #expect(Self.needsMoreThanThisHost.count <= 25)
        for name in Self.needsMoreThanThisHost.keys { #expect(Self.argvCases.contains(name), "\(name) is no argv case") }
        if ProcessInfo.processInfo.environment["CORRAL_GOLDEN_PREFIX"] == nil {
            #expect(Self.cases.count >= Self.argvCases.count - Self.needsMoreThanThisHost.count)
        }
    }

    @Test("each golden case starts in QEMU and quits over QMP", arguments: cases)
    func qemuAccepts(_ name: String) async throws {
        for problem in try await AcceptanceSlots.shared.run({ try Self.accept(name) }) { Issue.record(Comment(rawValue: problem)) }
    }

    /// Starts one case's QEMU and checks it (blocking: run by ``AcceptanceSlots``); what went
    /// wrong, recorded by the caller (on the test's own task, where issues belong).
    static func accept(_ name: String) throws -> [String] {
        let xml = try String(contentsOf: Self.golden.appendingPathComponent(name + ".xml"), encoding: .utf8)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("corral-golden-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let host = CorpusHost(scratch: base)
        // qemu.conf's chardev_tls and nbd_tls on, for the cases that say so.
        let tlsByDefault = xml.contains("corral-golden: tls-endpoints")
        host.networkDiskTLSByDefault = tlsByDefault
        var options = Self.options
        options.spiceTLS = xml.contains("corral-golden: spice-tls")
        let prepared = try host.prepare(DomainXMLParser.parse(xml, options: options).document, kvmUsable: false)
        let parsed = try DomainXMLParser.parse(DomainXMLFormatter.format(prepared), options: options)
        let directory = base + "/" + parsed.definition.name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var context = CommandLineContext(
            emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: false, id: 1, runDirectory: directory,
            privileged: true, passthroughEnvironment: ["PATH": "/usr/bin:/bin"])
        // Cases run in parallel: each gets ports of its own (VNC display 100 + N, SPICE 7000 + N).
        let number = Self.cases.firstIndex(of: name) ?? 0
        context.vncDisplay = 100 + number
        context.spicePort = 7000 + number
        if options.spiceTLS {
            // SPICE's TLS on: certificates made for the case, a TLS port of its own (7500 + N).
            context.spiceTLSDirectory = try CorpusHost.makeCertificates(in: base + "/spice-pki")
            context.spiceTLSPort = 7500 + number
        }
        if xml.contains("tls='yes'") || tlsByDefault {
            // TLS character devices and NBD disks: QEMU's tls-creds-x509 objects read these.
            let directory = try host.certificates()
            context.characterDeviceTLS.directory = directory
            context.networkDiskTLS.directory = directory
            context.characterDeviceTLS.byDefault = tlsByDefault
            context.networkDiskTLS.byDefault = tlsByDefault
        }
        context.hugePages = HostHugePages(sizesKiB: [2048, 1_048_576], defaultSizeKiB: 2048)
        // The secret driver's values: what CorpusHost encrypted the stand-in images with.
        for (index, disk) in parsed.definition.devices.disks.enumerated()
        where disk.network?.authentication != nil || disk.encryption != nil || disk.backingChain.contains(where: { $0.network?.authentication != nil || $0.encryption != nil }) {
            context.diskSecrets[index] = .init(
                authentication: disk.network?.authentication.map { _ in Array("auth-\(disk.targetDevice)".utf8) },
                encryption: disk.encryption.map { _ in Array(CorpusHost.passphrase(for: disk.targetDevice).utf8) },
                backingAuthentication: Dictionary(uniqueKeysWithValues: disk.backingChain.enumerated().compactMap { position, layer in
                    layer.network?.authentication.map { _ in (position, Array("auth-\(disk.targetDevice)-\(position)".utf8)) }
                }),
                backingEncryption: Dictionary(uniqueKeysWithValues: disk.backingChain.enumerated().compactMap { position, layer in
                    layer.encryption.map { _ in (position, Array(CorpusHost.passphrase(for: CorpusHost.backingLayerName(disk.targetDevice, position)).utf8)) }
                }))
        }
        // Host USB devices this machine has none of: each an empty usb-host port, as a missing
        // optional device starts (QEMU refuses a device node that does not exist).
        for (index, hostDevice) in parsed.definition.devices.hostDevices.enumerated() where hostDevice.type == .usb {
            context.hostDeviceBindings[index] = .usbMissing
        }
        // iSCSI LUNs given whole (their nodes are left to `storage-unreachable`, as the iSCSI disks').
        for (index, hostDevice) in parsed.definition.devices.hostDevices.enumerated() where hostDevice.type == .scsi {
            if let source = hostDevice.iscsi { context.hostDeviceBindings[index] = .iscsi(password: source.authentication.map { _ in Array("auth-hostdev\(index)".utf8) }) }
        }
        var taps: [(name: String, multiQueue: Bool)] = []
        // Macvtaps on a veth of the namespace, and the descriptors QEMU inherits of each (from 3).
        var macvtaps: [(name: String, descriptors: [Int32])] = []
        if xml.contains("corral-golden: taps") {
            for (index, interface) in parsed.definition.devices.interfaces.enumerated() where [.network, .bridge, .ethernet].contains(interface.type) {
                context.interfaceConnections[index] = .init(tap: "vnet\(index)", bridge: nil)
                taps.append((name: "vnet\(index)", multiQueue: (interface.driver?.queues ?? 0) > 1))
            }
            var descriptor: Int32 = 3
            for (index, interface) in parsed.definition.devices.interfaces.enumerated() where interface.type == .direct {
                var connection = CommandLineContext.InterfaceConnection(tap: "macvtap\(index)", bridge: nil)
                let numbers = (0..<Int32(max(interface.driver?.queues ?? 1, 1))).map { descriptor + $0 }
                descriptor += Int32(numbers.count)
                connection.qemuDescriptors = numbers.map(String.init)
                context.interfaceConnections[index] = connection
                macvtaps.append((name: "macvtap\(index)", descriptors: numbers))
            }
        }
        var invocation = try QEMUCommandLineBuilder.build(parsed.definition, context: context)
        // A network disk whose server this machine cannot run (iSCSI, RBD, Gluster, SSH, NFS,
        // HTTPS, FTP) is left out of the start; QEMU must then parse its storage node over QMP
        // and fail only at reaching the server.
        let unreachable = xml.contains("corral-golden: storage-unreachable") ? Self.takeNetworkDisks(from: &invocation) : []
        for secret in invocation.secretFiles { try Data(secret.contents).write(to: URL(fileURLWithPath: secret.path)) }
        if let sections = invocation.configFile {
            try QEMUConfigWriter.write(sections).write(toFile: context.configFilePath, atomically: true, encoding: .utf8)
        }
        try host.startHelpers(for: parsed.definition, context: context)
        // Taps live in a network namespace of the test's, where QEMU runs.
        var executable = invocation.executable, arguments = invocation.arguments
        let namespace = "corral-accept-\(UUID().uuidString.prefix(8))"
        // `corral-golden: netns`: QEMU's sockets (a multicast group's membership reports among
        // them) stay on the loopback device of a namespace of the test's.
        let ownLoopback = xml.contains("corral-golden: netns")
        let needsNamespace = !taps.isEmpty || !macvtaps.isEmpty || ownLoopback
        if needsNamespace {
            let made = try runProgram("/usr/sbin/ip", ["netns", "add", namespace])
            guard made.status == 0 else { throw TestSetupError("ip netns add: \(made.error)") }
            func inNamespace(_ command: [String]) throws -> String {
                let result = try runProgram("/usr/sbin/ip", ["netns", "exec", namespace] + command)
                guard result.status == 0 else { throw TestSetupError("\(command.joined(separator: " ")): \(result.error)") }
                return result.output
            }
            if ownLoopback {
                _ = try inNamespace(["/usr/sbin/ip", "link", "set", "lo", "up", "multicast", "on"])
                _ = try inNamespace(["/usr/sbin/ip", "route", "add", "224.0.0.0/4", "dev", "lo"])
            }
            for tap in taps {
                _ = try inNamespace(["/usr/sbin/ip", "tuntap", "add", "dev", tap.name, "mode", "tap"] + (tap.multiQueue ? ["multi_queue"] : []))
            }
            // QEMU inherits each macvtap's tap device as the daemon hands it over: a shell opens
            // it on the numbered descriptors, then becomes QEMU. The device node is made here from
            // sysfs's numbers: cases run in parallel namespaces, whose interface indexes (and so
            // /dev/tapN names) repeat.
            var redirections: [String] = []
            if !macvtaps.isEmpty {
                _ = try inNamespace(["/usr/sbin/ip", "link", "add", "mvlink0", "type", "veth", "peer", "name", "mvpeer0"])
                _ = try inNamespace(["/usr/sbin/ip", "link", "set", "mvlink0", "up"])
                for macvtap in macvtaps {
                    _ = try inNamespace(["/usr/sbin/ip", "link", "add", "link", "mvlink0", "name", macvtap.name, "type", "macvtap", "mode", "bridge"])
                    _ = try inNamespace(["/usr/sbin/ip", "link", "set", macvtap.name, "up"])
                    let numbers = try inNamespace(["/bin/sh", "-c", "cat /sys/class/net/\(macvtap.name)/macvtap/*/dev"])
                        .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").map(String.init)
                    guard numbers.count == 2 else { throw TestSetupError("no tap device numbers for \(macvtap.name)") }
                    let node = base + "/" + macvtap.name + ".dev"
                    let made = try runProgram("/usr/bin/mknod", [node, "c", numbers[0], numbers[1]])
                    guard made.status == 0 else { throw TestSetupError("mknod \(node): \(made.error)") }
                    redirections += macvtap.descriptors.map { "\($0)<>\(node)" }
                }
            }
            let prefix = redirections.isEmpty ? [executable] : ["/bin/sh", "-c", "exec \(redirections.joined(separator: " ")); exec \"$0\" \"$@\"", executable]
            arguments = ["netns", "exec", namespace] + prefix + arguments
            executable = "/usr/sbin/ip"
        }
        defer { if needsNamespace { _ = try? runProgram("/usr/sbin/ip", ["netns", "delete", namespace]) } }
        let errorLog = base + "/qemu.err"
        let errors = open(errorLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(errors) }
        let qemu = try ChildProcess.spawn(executable, arguments, environment: invocation.environment, standardOutput: .null, standardError: .descriptor(errors))
        defer { qemu.stop(grace: 5) }
        let client: QMPTestClient
        do {
            client = try QMPTestClient(path: context.qmpSocket, timeout: 60, while: { qemu.isRunning })
        } catch {
            return ["QEMU refused \(name) (\(qemu.wait(timeout: 1))): \((try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "")"]
        }
        var problems: [String] = []
        let status = try client.execute("query-status") as? [String: Any]
        if status?["status"] as? String != "prelaunch" { problems.append("\(name): QEMU's status is \(status?["status"] ?? "none"), not prelaunch") }
        for node in unreachable {
            do {
                _ = try client.execute("blockdev-add", node)
                problems.append("\(name): blockdev-add of \(node) reached a server")
            } catch {
                // QAPI's refusals of the options themselves, and a missing driver; anything else
                // is the driver trying to reach its server.
                let text = "\(error)"
                let refusals = ["Parameter '", "Invalid parameter", "is unexpected", "Unknown driver", "module", "not supported"]
                if refusals.contains(where: { text.contains($0) }) { problems.append("\(name): \(text)") }
                if ProcessInfo.processInfo.environment["CORRAL_SHOW_UNREACHABLE"] != nil { print("\(name): \(text)") }
            }
        }
        _ = try? client.execute("quit")
        if qemu.wait(timeout: 10) != .exited(0) {
            problems.append("QEMU for \(name) did not quit cleanly: \((try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "")")
        }
        return problems
    }
}

/// Runs the acceptance cases' blocking work (programs run and waited for, sockets polled) on
/// threads of their own, as many at once as the machine has cores. Run on the test process's
/// cooperative threads, the cases held all of them for half a minute, and other suites' async
/// tests (a 100 ms wait of the reaper's) stalled that long.
actor AcceptanceSlots {
    static let shared = AcceptanceSlots(limit: max(ProcessInfo.processInfo.activeProcessorCount, 2))

    private let limit: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        if running >= limit { await withCheckedContinuation { waiting.append($0) } } else { running += 1 }
        defer {
            if waiting.isEmpty { running -= 1 } else { waiting.removeFirst().resume() }
        }
        return try await withCheckedThrowingContinuation { (done: CheckedContinuation<Result, any Error>) in
            Thread {
                do {
                    done.resume(returning: try body())
                } catch {
                    done.resume(throwing: error)
                }
            }.start()
        }
    }
}

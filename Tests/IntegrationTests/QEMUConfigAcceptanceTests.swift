import Foundation
import POSIXSupport
import QEMUConfig
import Testing

/// QEMU itself reads every file the writer produces, and the sections take effect.
@Suite("QEMU accepts generated configuration files")
struct QEMUConfigAcceptanceTests {
    @Test("a file with many groups, written by Corral and round-tripped through XML, configures QEMU")
    func qemuReadsGeneratedFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("corral-cfg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let disk = directory + "/disk.raw"
        _ = FileManager.default.createFile(atPath: disk, contents: Data(count: 1 << 20))
        let monitor = directory + "/mon.sock"

        func section(_ group: String, _ id: String? = nil, _ entries: KeyValuePairs<String, String>) -> QEMUConfigSection {
            QEMUConfigSection(group: group, id: id, entries: entries.map { QEMUConfigEntry(key: $0.key, value: $0.value) })
        }
        let model = QEMUConfigFile(sections: [
            section("name", nil, ["guest": "cfgtest"]),
            section("machine", nil, ["type": "q35"]),
            section("accel", nil, ["accel": "tcg"]),
            section("memory", nil, ["size": "256"]),
            section("smp-opts", nil, ["cpus": "2"]),
            section("rtc", nil, ["base": "utc"]),
            section("object", "rng0", ["qom-type": "rng-random", "filename": "/dev/urandom"]),
            section("chardev", "c1", ["backend": "null"]),
            section("chardev", "mon0", ["backend": "socket", "path": monitor, "server": "on", "wait": "off"]),
            section("mon", nil, ["chardev": "mon0", "mode": "control"]),
            section("netdev", "hostnet", ["type": "user"]),
            section("drive", "disk", ["file": disk, "format": "raw", "if": "none"]),
            section("device", "rng-dev", ["driver": "virtio-rng-pci", "rng": "rng0"]),
            section("device", "net0", ["driver": "virtio-net-pci", "netdev": "hostnet"]),
            section("device", nil, ["driver": "virtio-blk-pci", "drive": "disk"]),
            section("global", nil, ["driver": "virtio-rng-pci", "property": "max-bytes", "value": "4321"]),
        ])
        // Through the XML form and back, then written: what QEMU reads is what the model says.
        let viaXML = try QEMUConfigXMLReader.read(try QEMUConfigXMLWriter.document(model))
        #expect(viaXML == model)
        let text = try QEMUConfigWriter.write(viaXML)
        #expect(try QEMUConfigReader().read(text) == model)
        let file = directory + "/test.cfg"
        try text.write(toFile: file, atomically: true, encoding: .utf8)

        let qmp = directory + "/qmp.sock"
        let errorLog = directory + "/qemu.err"
        let errors = open(errorLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(errors) }
        let qemu = try ChildProcess.spawn(
            "/usr/bin/qemu-system-x86_64", ["-nodefaults", "-no-user-config", "-display", "none", "-S", "-readconfig", file, "-qmp", "unix:\(qmp),server=on,wait=off"],
            standardOutput: .null, standardError: .descriptor(errors))
        defer { qemu.stop(grace: 5) }
        let client: QMPTestClient
        do {
            client = try QMPTestClient(path: qmp)
        } catch {
            qemu.stop(grace: 5)
            let message = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
            Issue.record("QEMU refused the generated file: \(message)")
            return
        }
        #expect((try client.execute("query-name") as? [String: Any])?["name"] as? String == "cfgtest")
        let memory = try client.execute("query-memory-size-summary") as? [String: Any]
        #expect((memory?["base-memory"] as? NSNumber)?.int64Value == 256 << 20)
        #expect((try client.execute("query-cpus-fast") as? [Any])?.count == 2)
        #expect((try client.execute("qom-get", ["path": "/machine", "property": "type"]) as? String)?.hasPrefix("pc-q35-") == true)
        let objects = (try client.execute("qom-list", ["path": "/objects"]) as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(objects.contains("rng0"))
        let peripherals = (try client.execute("qom-list", ["path": "/machine/peripheral"]) as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(peripherals.contains("rng-dev") && peripherals.contains("net0"))
        #expect((try client.execute("qom-get", ["path": "/machine/peripheral/rng-dev", "property": "max-bytes"]) as? NSNumber)?.intValue == 4321)
        let chardevs = (try client.execute("query-chardev") as? [[String: Any]] ?? []).compactMap { $0["label"] as? String }
        #expect(chardevs.contains("c1") && chardevs.contains("mon0"))
        let blocks = (try client.execute("query-block") as? [[String: Any]] ?? []).compactMap { $0["device"] as? String }
        #expect(blocks.contains("disk"))
        // The [mon] section made a second, working QMP monitor.
        let second = try QMPTestClient(path: monitor)
        #expect((try second.execute("query-status") as? [String: Any])?["status"] as? String == "prelaunch")
        _ = try? client.execute("quit")
    }
}

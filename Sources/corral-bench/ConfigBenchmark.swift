import Foundation
import QEMUConfig

/// Reading, writing and converting a 10,000-section configuration file.
enum ConfigBenchmark {
    static func makeFile(sections count: Int) -> QEMUConfigFile {
        var sections: [QEMUConfigSection] = []
        sections.reserveCapacity(count)
        for i in 0..<count {
            switch i % 4 {
            case 0:
                sections.append(.init(group: "device", id: "dev\(i)", entries: [
                    .init(key: "driver", value: "virtio-net-pci"), .init(key: "netdev", value: "net\(i)"),
                    .init(key: "mac", value: "52:54:00:12:34:\(String(format: "%02x", i % 256))"), .init(key: "bus", value: "pcie.0"),
                ]))
            case 1:
                sections.append(.init(group: "object", id: "obj\(i)", entries: [
                    .init(key: "qom-type", value: "memory-backend-ram"), .init(key: "size", value: "\(i % 64 + 1)M"),
                ]))
            case 2:
                sections.append(.init(group: "chardev", id: "chr\(i)", entries: [
                    .init(key: "backend", value: "socket"), .init(key: "path", value: "/run/corral/domains/vm/serial\(i).sock"),
                    .init(key: "server", value: "on"), .init(key: "wait", value: "off"),
                ]))
            default:
                sections.append(.init(group: "drive", id: "drive\(i)", entries: [
                    .init(key: "file", value: "/var/lib/corral/images/disk-\(i).qcow2"), .init(key: "format", value: "qcow2"),
                    .init(key: "if", value: "none"),
                ]))
            }
        }
        return QEMUConfigFile(sections: sections)
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Best of `repeats` runs.
    static func best(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<repeats { best = min(best, try seconds(body)) }
        return best
    }

    static func run() throws {
        let file = makeFile(sections: 10_000)
        let text = try QEMUConfigWriter.write(file)
        let xml = try QEMUConfigXMLWriter.document(file)
        let megabytes = Double(text.utf8.count) / 1_000_000
        let xmlMegabytes = Double(xml.utf8.count) / 1_000_000
        let reader = QEMUConfigReader()
        var parsed = QEMUConfigFile()
        let read = try best(50) { parsed = try reader.read(text) }
        precondition(parsed == file, "the reader must give back what was written")
        let write = try best(50) { _ = try QEMUConfigWriter.write(file) }
        let toXML = try best(5) { _ = try QEMUConfigXMLWriter.document(try reader.read(text)) }
        var back = QEMUConfigFile()
        let fromXML = try best(3) { back = try QEMUConfigXMLReader.read(xml) }
        precondition(back == file, "the XML reader must give back what was written")
        let roundTrip = try best(3) {
            let x = try QEMUConfigXMLWriter.document(try reader.read(text))
            _ = try QEMUConfigWriter.write(try QEMUConfigXMLReader.read(x))
        }
        print("QEMU configuration file: 10,000 sections, \(String(format: "%.2f", megabytes)) MB as a file, \(String(format: "%.2f", xmlMegabytes)) MB as XML (best of several runs)")
        print(String(format: "  read config    %8.1f MB/s  (%.1f ms)   goal ≥ 100 MB/s", megabytes / read, read * 1000))
        print(String(format: "  write config   %8.1f MB/s  (%.1f ms)   goal ≥ 100 MB/s", megabytes / write, write * 1000))
        print(String(format: "  config → XML   %8.1f MB/s  (%.1f ms)", megabytes / toXML, toXML * 1000))
        print(String(format: "  XML → model    %8.1f MB/s  (%.1f ms)", xmlMegabytes / fromXML, fromXML * 1000))
        print(String(format: "  config → XML → config round trip: %.1f ms   goal < 1000 ms", roundTrip * 1000))
    }
}

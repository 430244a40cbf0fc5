import DomainXML
import Foundation

/// What a define's parse costs the daemon in CPU: the benchmark's definition read, checked,
/// normalised and formatted as `DomainXMLParser` does in corrald, measured in this process with
/// the daemon's options for QEMU 7.2's q35. Printed beside the define figures so the daemon's
/// own part of a define can be read apart from its disk and RPC parts.
enum DefineParseCost {
    /// The median seconds per parse of `count` definitions (after a warm-up).
    static func measure(count: Int) -> Double {
        var options = DomainXMLOptions()
        options.machineAliases["q35"] = "pc-q35-7.2"
        options.machineAliases["pc"] = "pc-i440fx-7.2"
        options.defaultMachine = "pc-i440fx-7.2"
        options.defaultCPUModels["pc-q35-7.2"] = "qemu64"
        options.defaultCPUModels["pc-i440fx-7.2"] = "qemu64"
        var times: [Double] = []
        for index in 0..<(count + 100) {
            let xml = DomainBenchmark.xml(index)
            let start = ContinuousClock.now
            guard let parsed = try? DomainXMLParser.parse(xml, options: options) else { return 0 }
            // The stored text, which the daemon formats on each define too.
            guard !parsed.xml.isEmpty else { return 0 }
            if index >= 100 { times.append((ContinuousClock.now - start).seconds) }
        }
        return times.sorted()[times.count / 2]
    }
}

import XMLTree

/// Range checks on every number the model reads from a normalised document, so that a value
/// from outside (`<vcpu>4294967296</vcpu>`, a port of 70000, a disk target of 17 letters) is
/// refused at define with a message naming the field, never trapped on later.
enum DomainNumberChecks {
    static func check(_ root: XMLElement) throws(DomainXMLError) {
        if let topology = root.element(named: "cpu")?.element(named: "topology") {
            var product = 1
            for name in ["sockets", "dies", "cores", "threads"] {
                guard let value = try integer(topology, name, in: 1...DomainLimits.maximumVCPUs) else { continue }
                let (next, overflow) = product.multipliedReportingOverflow(by: value)
                guard !overflow, next <= DomainLimits.maximumVCPUs else {
                    throw DomainXMLError(.invalid, line: topology.line, "CPU topology gives more than \(DomainLimits.maximumVCPUs) vCPUs")
                }
                product = next
            }
        }
        guard let devices = root.element(named: "devices") else { return }
        for position in devices.children.indices {
            guard case .element(let device) = devices.children[position], device.namespace == nil else { continue }
            if let boot = device.element(named: "boot") { _ = try integer(boot, "order", in: 1...DomainLimits.smallCount.upperBound) }
            switch device.name {
            case "disk":
                if let target = device.element(named: "target"), let dev = target[attribute: "dev"], DiskTarget.index(of: dev) == nil {
                    throw DomainXMLError(.invalid, line: target.line, "invalid disk target '\(dev)': expected vd, sd, hd, xvd, ubd or fd and 1 to \(DomainLimits.maximumDiskTargetLetters) letters")
                }
            case "controller":
                _ = try integer(device, "index", in: DomainLimits.smallCount)
                _ = try integer(device, "ports", in: DomainLimits.smallCount)
                _ = try integer(device, "vectors", in: DomainLimits.smallCount)
            case "serial", "console", "channel", "parallel":
                if let target = device.element(named: "target") { _ = try integer(target, "port", in: DomainLimits.smallCount) }
                if device[attribute: "type"] == "tcp", let source = device.element(named: "source") {
                    _ = try integer(source, "service", in: 1...DomainLimits.smallCount.upperBound)
                }
            case "graphics":
                for name in ["port", "websocket", "tlsPort"] {
                    guard let text = device[attribute: name], text != "-1" else { continue }
                    let range = device[attribute: "type"] == "vnc" && name == "port" ? DomainLimits.vncPorts : DomainLimits.smallCount
                    guard let value = Int(text), range.contains(value) else {
                        throw DomainXMLError(.invalid, line: device.line, "\(device[attribute: "type"] ?? "graphics") \(name) must be in range [\(range.lowerBound),\(range.upperBound)] or -1, not '\(text)'")
                    }
                }
            case "video":
                if let model = device.element(named: "model") {
                    for name in ["vram", "ram", "vgamem", "vram64"] { _ = try integer(model, name, in: DomainLimits.videoMemoryKiB) }
                    _ = try integer(model, "heads", in: 1...16)
                }
            default:
                break
            }
        }
    }

    /// The attribute `name` of `element` as an integer in `range`, `nil` when absent.
    static func integer(_ element: XMLElement, _ name: String, in range: ClosedRange<Int>) throws(DomainXMLError) -> Int? {
        guard let text = element[attribute: name] else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw DomainXMLError(.invalid, line: element.line, "invalid value '\(text)' for the attribute '\(name)' of <\(element.name)>: expected an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }
}

/// Disk target names (`vda`, `sdb`, `hdc`, `xvdaa`…) and their indexes.
public enum DiskTarget {
    static let prefixes = ["xvd", "ubd", "vd", "sd", "hd", "fd"]

    /// The index of a target (`vda` → 0, `vdz` → 25, `vdaa` → 26), or `nil` if the name is not a
    /// known prefix followed by 1 to ``DomainLimits/maximumDiskTargetLetters`` lower-case letters.
    public static func index(of name: String) -> Int? {
        guard let prefix = prefixes.first(where: { name.hasPrefix($0) }) else { return nil }
        let letters = name.utf8.dropFirst(prefix.utf8.count)
        guard (1...DomainLimits.maximumDiskTargetLetters).contains(letters.count) else { return nil }
        var index = 0
        for c in letters {
            guard c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") else { return nil }
            index = index * 26 + Int(c - UInt8(ascii: "a")) + 1
        }
        return index - 1
    }
}

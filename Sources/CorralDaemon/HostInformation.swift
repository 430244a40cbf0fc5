import Foundation

/// Facts about this host, read once from `/proc`, `/sys` and `uname`.
public struct HostInformation: Sendable, Equatable {
    /// The host name (`gethostname`).
    public var hostname: String
    /// The CPU architecture (`uname -m`).
    public var architecture: String
    /// Total memory in KiB.
    public var memoryKiB: UInt64
    /// Online logical CPUs.
    public var cpus: Int
    /// CPU frequency in MHz (0 when unknown).
    public var mhz: Int
    /// NUMA nodes.
    public var nodes: Int
    /// Sockets per node.
    public var sockets: Int
    /// Cores per socket.
    public var cores: Int
    /// Threads per core.
    public var threads: Int
    /// A stable host UUID (from DMI, else `/etc/machine-id`).
    public var uuid: String
    /// The CPU model name from `/proc/cpuinfo`.
    public var cpuModelName: String

    /// Reads the facts from the running system.
    public static func current() -> HostInformation {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        var uts = utsname()
        uname(&uts)
        let machine = withUnsafeBytes(of: &uts.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let cpus = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

        func firstValue(_ key: String, in text: String) -> String? {
            for line in text.split(separator: "\n") where line.hasPrefix(key) {
                if let colon = line.firstIndex(of: ":") {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
        let memoryKiB = UInt64(firstValue("MemTotal", in: meminfo)?.split(separator: " ").first ?? "0") ?? 0
        let mhz = Int(Double(firstValue("cpu MHz", in: cpuinfo) ?? "0") ?? 0)
        var physicalIDs = Set<String>()
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("physical id") {
            physicalIDs.insert(String(line))
        }
        let nodeCount = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/devices/system/node")) ?? [])
            .filter { $0.hasPrefix("node") && Int($0.dropFirst(4)) != nil }.count
        let nodes = max(1, nodeCount)
        let sockets = max(1, physicalIDs.count / nodes)
        let cores = max(1, Int(firstValue("cpu cores", in: cpuinfo) ?? "") ?? cpus / sockets)
        let threads = max(1, cpus / max(1, sockets * cores * nodes))
        return HostInformation(
            hostname: String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
            architecture: machine,
            memoryKiB: memoryKiB,
            cpus: cpus,
            mhz: mhz,
            nodes: nodes,
            sockets: sockets,
            cores: cores,
            threads: threads,
            uuid: hostUUID(),
            cpuModelName: firstValue("model name", in: cpuinfo) ?? machine
        )
    }

    static func hostUUID() -> String {
        if let dmi = try? String(contentsOfFile: "/sys/class/dmi/id/product_uuid", encoding: .utf8) {
            let trimmed = dmi.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            if trimmed.count == 36 { return trimmed }
        }
        let id = ((try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard id.count == 32 else { return "00000000-0000-0000-0000-000000000000" }
        let c = Array(id)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}

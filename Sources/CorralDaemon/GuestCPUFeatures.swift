import CorralJSON
import DomainXML
import QMP

/// What QEMU made of a starting guest's vCPU: its CPUID feature bits, enabled and filtered
/// (the x86 CPU's `feature-words` and `filtered-features`), read before the vCPUs run, for the
/// live `<cpu>` libvirt writes (``LiveCPUUpdate``).
enum GuestCPUFeatures {
    /// libvirt's CPU map, read once; `nil` where libvirt's client library is not installed
    /// (the live `<cpu>` then stays as asked for).
    static let map: X86CPUMap? = X86CPUMap.load()

    /// The first vCPU's enabled and filtered CPUID bits; `nil` when QEMU does not say.
    static func fetch(_ qmp: QMPClient) async -> (enabled: X86CPUIDData, disabled: X86CPUIDData)? {
        guard case .array(let cpus)? = try? await qmp.execute("query-cpus-fast"),
            let first = cpus.min(by: { ($0["cpu-index"]?.intValue ?? .max) < ($1["cpu-index"]?.intValue ?? .max) }),
            let path = first["qom-path"]?.stringValue
        else { return nil }
        func words(_ property: String) async -> X86CPUIDData? {
            let reply = try? await qmp.execute("qom-get", arguments: .object([("path", .string(path)), ("property", .string(property))]))
            return reply.flatMap(cpuidData(featureWords:))
        }
        guard let enabled = await words("feature-words"), let disabled = await words("filtered-features") else { return nil }
        return (enabled, disabled)
    }

    /// A `feature-words` list (`{"cpuid-input-eax", "cpuid-input-ecx"?, "cpuid-register",
    /// "features"}` each) as CPUID bits; `nil` when it is not one.
    static func cpuidData(featureWords: JSONValue) -> X86CPUIDData? {
        guard case .array(let words) = featureWords else { return nil }
        var data = X86CPUIDData()
        for word in words {
            guard let leaf = word["cpuid-input-eax"]?.intValue.flatMap({ UInt32(exactly: $0) }),
                let register = word["cpuid-register"]?.stringValue.flatMap({ X86CPUIDRegister(rawValue: $0.lowercased()) }),
                let features = word["features"]?.intValue.flatMap({ UInt32(exactly: $0) })
            else { return nil }
            let subleaf = word["cpuid-input-ecx"]?.intValue.flatMap { UInt32(exactly: $0) } ?? 0
            data.add(features, at: .init(leaf: leaf, subleaf: subleaf, register: register))
        }
        return data
    }
}

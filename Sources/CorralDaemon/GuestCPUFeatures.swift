import CorralJSON
import DomainXML
import Glibc
import QEMUCommandLine
import QMP
import Synchronization

/// What QEMU made of a starting guest's vCPU: its CPUID feature bits, enabled and filtered
/// (the x86 CPU's `feature-words` and `filtered-features`), read before the vCPUs run, for the
/// live `<cpu>` libvirt writes (``LiveCPUUpdate``).
enum GuestCPUFeatures {
    /// libvirt's CPU map, read once; `nil` where libvirt's client library is not installed
    /// (the live `<cpu>` then stays as asked for).
    static let map: X86CPUMap? = X86CPUMap.load()

    /// What QEMU made of vCPUs before, by ``cacheKey(_:)``: reading it costs QEMU ~1.5 ms per
    /// start here (each `feature-words` is slow to answer), and it is the same for every start of
    /// the same emulator with the same CPU options.
    private static let made = Mutex<[String: (enabled: X86CPUIDData, disabled: X86CPUIDData)]>([:])
    private static let madeLimit = 256

    /// What decides the vCPU QEMU makes: the emulator (its path, inode and modification time)
    /// and the machine, accelerator, CPU, topology and global options; `nil` for a command line
    /// changed by the definition's QEMU namespace or with a configuration file, which may shape
    /// the CPU in ways not read here (such starts read the vCPU each time).
    static func cacheKey(_ invocation: QEMUInvocation) -> String? {
        guard invocation.taints.isEmpty, invocation.configFile == nil else { return nil }
        var status = stat()
        guard stat(invocation.executable, &status) == 0 else { return nil }
        let shaping: Set<String> = ["-machine", "-accel", "-cpu", "-smp", "-global", "-enable-kvm"]
        let options = invocation.options.filter { shaping.contains($0.name) }.map { "\($0.name) \($0.value ?? "")" }
        return ([invocation.executable, "\(status.st_ino):\(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)"] + options).joined(separator: "\n")
    }

    /// The first vCPU's enabled and filtered CPUID bits for `invocation`: remembered from an
    /// earlier start with the same ``cacheKey(_:)``, else read from QEMU (``fetch(_:cpus:)``).
    static func vcpu(of invocation: QEMUInvocation, _ qmp: QMPClient, cpus: JSONValue?) async -> (enabled: X86CPUIDData, disabled: X86CPUIDData)? {
        let key = cacheKey(invocation)
        if let key, let known = made.withLock({ $0[key] }) { return known }
        guard let cpus, let fetched = await fetch(qmp, cpus: cpus) else { return nil }
        if let key {
            made.withLock { made in
                if made.count >= madeLimit { made.removeAll() }
                made[key] = fetched
            }
        }
        return fetched
    }

    /// The first vCPU's enabled and filtered CPUID bits, read from its QOM object (found in
    /// `cpus`, a `query-cpus-fast` reply); `nil` when QEMU does not say.
    static func fetch(_ qmp: QMPClient, cpus: JSONValue) async -> (enabled: X86CPUIDData, disabled: X86CPUIDData)? {
        guard case .array(let cpus) = cpus,
            let first = cpus.min(by: { ($0["cpu-index"]?.intValue ?? .max) < ($1["cpu-index"]?.intValue ?? .max) }),
            let path = first["qom-path"]?.stringValue
        else { return nil }
        func words(_ property: String) async -> X86CPUIDData? {
            let reply = try? await qmp.execute("qom-get", arguments: .object([("path", .string(path)), ("property", .string(property))]))
            return reply.flatMap(cpuidData(featureWords:))
        }
        // Both asked at once: one round trip to QEMU.
        async let enabled = words("feature-words")
        async let disabled = words("filtered-features")
        guard let enabled = await enabled, let disabled = await disabled else { return nil }
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

public import QEMUProbe

/// Formats libvirt's capabilities XML (`virConnectGetCapabilities`) for this host and emulator.
public enum CapabilitiesXML {
    /// The document for `host`, `emulator` (64-bit guests) and `i686` (32-bit guests, when the
    /// host has an emulator for them).
    public static func format(host: HostInformation, emulator: EmulatorCapabilities, i686: EmulatorCapabilities? = nil) -> String {
        var xml = "<capabilities>\n\n  <host>\n"
        xml += "    <uuid>\(escape(host.uuid))</uuid>\n"
        xml += "    <cpu>\n      <arch>\(escape(host.architecture))</arch>\n"
        xml += "      <topology sockets='\(host.sockets)' dies='1' cores='\(host.cores)' threads='\(host.threads)'/>\n"
        xml += "    </cpu>\n"
        xml += "    <power_management/>\n    <iommu support='no'/>\n"
        // Live migration over TCP (libvirt writes its transports the same way).
        xml += "    <migration_features>\n      <live/>\n      <uri_transports>\n        <uri_transport>tcp</uri_transport>\n"
        xml += "      </uri_transports>\n    </migration_features>\n"
        xml += "    <topology>\n      <cells num='1'>\n        <cell id='0'>\n"
        xml += "          <memory unit='KiB'>\(host.memoryKiB)</memory>\n"
        xml += "          <cpus num='\(host.cpus)'>\n"
        for cpu in 0..<host.cpus {
            xml += "            <cpu id='\(cpu)' socket_id='0' die_id='0' core_id='\(cpu / host.threads)' siblings='\(cpu)'/>\n"
        }
        xml += "          </cpus>\n        </cell>\n      </cells>\n    </topology>\n"
        xml += "    <secmodel>\n      <model>none</model>\n      <doi>0</doi>\n    </secmodel>\n"
        xml += "  </host>\n\n"
        // libvirt's order of architectures: the 32-bit guests first.
        if let i686, i686.version != 0 { xml += guest(arch: "i686", wordSize: 32, emulator: i686) }
        if emulator.version != 0 { xml += guest(arch: "x86_64", wordSize: 64, emulator: emulator) }
        xml += "</capabilities>\n"
        return xml
    }

    /// One `<guest>`: the architecture, its emulator and machines, and its features (a 32-bit
    /// guest's PAE and non-PAE first, as libvirt lists them).
    static func guest(arch: String, wordSize: Int, emulator: EmulatorCapabilities) -> String {
        var xml = "  <guest>\n    <os_type>hvm</os_type>\n    <arch name='\(arch)'>\n      <wordsize>\(wordSize)</wordsize>\n"
        xml += "      <emulator>\(escape(emulator.path))</emulator>\n"
        // The default machine first, then its alias, as libvirt lists them: tools such as
        // virt-install take the first machine as the default.
        let defaultName = emulator.machines.first { $0.isDefault }?.name
        let first = emulator.machines.filter { $0.name == defaultName || ($0.canonical != nil && $0.canonical == defaultName) }
        let ordered = first.sorted { a, _ in a.canonical == nil } + emulator.machines.filter { m in !first.contains { $0.name == m.name } }
        for machine in ordered {
            let canonical = machine.canonical.map { " canonical='\(escape($0))'" } ?? ""
            xml += "      <machine\(canonical) maxCpus='\(machine.maximumCPUs)'>\(escape(machine.name))</machine>\n"
        }
        xml += "      <domain type='qemu'/>\n"
        if emulator.kvmUsable { xml += "      <domain type='kvm'/>\n" }
        xml += "    </arch>\n    <features>\n"
        if wordSize == 32 { xml += "      <pae/>\n      <nonpae/>\n" }
        xml += "      <acpi default='on' toggle='yes'/>\n      <apic default='on' toggle='no'/>\n"
        xml += "      <cpuselection/>\n      <deviceboot/>\n      <disksnapshot default='on' toggle='no'/>\n"
        xml += "    </features>\n  </guest>\n\n"
        return xml
    }

    /// Escapes text for XML character data and single-quoted attributes.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}

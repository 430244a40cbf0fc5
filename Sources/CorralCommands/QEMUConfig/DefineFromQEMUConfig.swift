import ArgumentParser
import CorralClient
import CorralProtocol
import Foundation
import QEMUConfig

extension Corral {
    /// `corral define-from-qemu-config FILE --name NAME`: a QEMU configuration file as a domain.
    struct DefineFromQEMUConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "define-from-qemu-config",
            abstract: "Define a domain from a QEMU configuration file, its sections carried in the qemu namespace.",
            discussion: """
                [machine] type, [memory] size, [smp-opts] cpus and [accel] accel become the domain's machine, memory, \
                vCPUs and type; every other section (devices, drives, netdevs, chardevs, objects, …) is carried verbatim \
                as a configuration section and handed to QEMU with -readconfig when the domain starts.
                """
        )
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The configuration file, or - for standard input.") var file: String
        @Option(help: "The domain's name.") var name: String
        @Flag(name: .customLong("print-xml"), help: "Print the domain XML instead of defining it.") var printXML = false
        @OptionGroup var emulator: EmulatorOption

        func run() async throws {
            let text = try ConfigInput.read(file)
            let reader = QEMUConfigReader(knownGroups: ConfigInput.knownGroups(emulator: emulator.emulator))
            let parsed: QEMUConfigFile
            do throws(QEMUConfigError) {
                parsed = try reader.read(text)
            } catch {
                throw ConfigInput.report(error, file: file)
            }
            let xml = try QEMUConfigDomain.xml(from: parsed, name: name, emulator: emulator.emulator)
            if printXML {
                print(xml, terminator: "")
                return
            }
            try await connection.withConnection { connection in
                let domain = try await connection.defineDomain(xml: xml)
                print("Domain '\(domain.name)' defined from \(file)")
            }
        }
    }
}

/// Builds a domain XML from configuration-file sections.
enum QEMUConfigDomain {
    static func xml(from file: QEMUConfigFile, name: String, emulator: String) throws -> String {
        var machine = "q35"
        var memory = "128M"
        var cpus = "1"
        var type = FileManager.default.isWritableFile(atPath: "/dev/kvm") ? "kvm" : "qemu"
        var carried: [QEMUConfigSection] = []
        for section in file.sections {
            var rest = section
            func take(_ key: String) -> String? {
                guard let value = section[key] else { return nil }
                rest.entries.removeAll { $0.key == key }
                return value
            }
            switch section.group {
            case "machine": machine = take("type") ?? machine
            case "memory": memory = take("size") ?? memory
            case "smp-opts": cpus = take("cpus") ?? cpus
            case "accel":
                if let accel = take("accel") { type = accel.hasPrefix("kvm") ? "kvm" : "qemu" }
            case "name": _ = take("guest")
            default: break
            }
            if !rest.entries.isEmpty || !["machine", "memory", "smp-opts", "accel", "name"].contains(section.group) {
                carried.append(rest)
            }
        }
        let (amount, unit) = try memoryAmount(memory)
        guard let vcpus = Int(cpus), vcpus > 0 else { throw CLIError(message: "[smp-opts] cpus = \"\(cpus)\" is not a positive number") }
        var out = "<domain type='\(type)' xmlns:qemu='\(QEMUConfigXMLWriter.namespace)'>\n"
        out += "  <name>\(escape(name))</name>\n"
        out += "  <memory unit='\(unit)'>\(amount)</memory>\n"
        out += "  <vcpu>\(vcpus)</vcpu>\n"
        out += "  <os>\n    <type arch='x86_64' machine='\(escape(machine))'>hvm</type>\n  </os>\n"
        out += "  <devices>\n    <emulator>\(escape(emulator))</emulator>\n    <memballoon model='none'/>\n  </devices>\n"
        do throws(QEMUConfigError) {
            try QEMUConfigXMLWriter.appendSections(QEMUConfigFile(sections: carried), indent: "  ", to: &out)
        } catch {
            throw CLIError(message: error.description)
        }
        out += "</domain>\n"
        return out
    }

    /// QEMU's `[memory] size`: MiB without a suffix, else k/M/G/T.
    static func memoryAmount(_ size: String) throws -> (String, String) {
        guard let last = size.last else { throw CLIError(message: "[memory] size is empty") }
        let units: [Character: String] = ["k": "KiB", "K": "KiB", "m": "MiB", "M": "MiB", "g": "GiB", "G": "GiB", "t": "TiB", "T": "TiB"]
        if let unit = units[last], let value = UInt64(size.dropLast()) { return ("\(value)", unit) }
        if let value = UInt64(size) { return ("\(value)", "MiB") }
        throw CLIError(message: "[memory] size = \"\(size)\" is not a size QEMU understands")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: "'", with: "&apos;")
    }
}

import ArgumentParser
import CorralClient
import CorralProtocol
import Foundation

extension Corral {
    /// `corral define FILE`.
    struct Define: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Define (but do not start) a domain from an XML file.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The domain XML file.") var file: String
        @Flag(help: "Validate the XML before defining it.") var validate = false

        func run() async throws {
            let xml = try ConfigInput.read(file)
            try await connection.withConnection { connection in
                let domain = try await connection.defineDomain(xml: xml, validate: validate)
                print("Domain '\(domain.name)' defined from \(file)")
            }
        }
    }

    /// `corral undefine DOMAIN`.
    struct Undefine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Undefine a domain (a running one becomes transient).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Flag(help: "Also remove the domain's NVRAM file.") var nvram = false
        @Flag(name: .customLong("keep-nvram"), help: "Keep the domain's NVRAM file.") var keepNVRAM = false

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                try await connection.undefineDomain(handle, flags: (nvram ? 4 : 0) | (keepNVRAM ? 8 : 0))
                print("Domain '\(handle.name)' has been undefined")
            }
        }
    }

    /// `corral dumpxml DOMAIN`.
    struct DumpXML: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "dumpxml", abstract: "Print a domain's XML.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Flag(help: "The persistent definition rather than the live one.") var inactive = false
        @Flag(name: .customLong("security-info"), help: "Include security-sensitive information.") var securityInfo = false

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                print(try await connection.domainXML(handle, flags: (securityInfo ? 1 : 0) | (inactive ? 2 : 0)), terminator: "")
            }
        }
    }

    /// `corral dominfo DOMAIN`, in virsh's layout.
    struct DomInfo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "dominfo", abstract: "Print basic information about a domain.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                func line(_ label: String, _ value: String) { print(label.padding(to: 16) + value) }
                line("Id:", handle.id >= 0 ? "\(handle.id)" : "-")
                line("Name:", handle.name)
                line("UUID:", "\(handle.uuid)")
                line("OS Type:", try await connection.call(Remote.DomainGetOSType.self, .init(dom: handle)).type)
                let info = try await connection.domainInfo(handle)
                line("State:", DomainStateNames.state(info.state))
                line("CPU(s):", "\(info.vcpus)")
                if handle.id >= 0 { line("CPU time:", String(format: "%.1fs", Double(info.cpuTimeNanoseconds) / 1e9)) }
                line("Max memory:", "\(info.maxMemoryKiB) KiB")
                line("Used memory:", "\(info.memoryKiB) KiB")
                line("Persistent:", try await connection.call(Remote.DomainIsPersistent.self, .init(dom: handle)).persistent != 0 ? "yes" : "no")
                line("Autostart:", try await connection.domainAutostart(handle) ? "enable" : "disable")
                let managed = try? await connection.call(Remote.DomainHasManagedSaveImage.self, .init(dom: handle, flags: 0))
                line("Managed save:", (managed?.result ?? 0) != 0 ? "yes" : "no")
                if let model = try? await connection.call(Remote.NodeGetSecurityModel.self), !model.model.isEmpty {
                    line("Security model:", model.model)
                    line("Security DOI:", model.doi)
                }
                if let messages = try? await connection.call(Remote.DomainGetMessages.self, .init(dom: handle, flags: 0)), !messages.msgs.isEmpty {
                    for (index, message) in messages.msgs.enumerated() { line(index == 0 ? "Messages:" : "", message) }
                }
            }
        }
    }

    /// `corral domstate DOMAIN [--reason]`.
    struct DomState: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "domstate", abstract: "Print a domain's state.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Flag(help: "Also print the reason for the state.") var reason = false

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                let state = try await connection.domainState(handle)
                let name = DomainStateNames.state(state.state)
                print(reason ? "\(name) (\(DomainStateNames.reason(state: state.state, reason: state.reason)))" : name)
            }
        }
    }

    /// `corral domuuid DOMAIN`.
    struct DomUUID: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "domuuid", abstract: "Print a domain's UUID.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name or id.") var domain: String

        func run() async throws {
            try await connection.withConnection { connection in
                print(try await connection.lookupDomain(domain, byUUID: false).uuid)
            }
        }
    }

    /// `corral domname DOMAIN`.
    struct DomName: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "domname", abstract: "Print a domain's name.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain id or UUID.") var domain: String

        func run() async throws {
            try await connection.withConnection { connection in
                print(try await connection.lookupDomain(domain, byName: false).name)
            }
        }
    }

    /// `corral domid DOMAIN`.
    struct DomID: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "domid", abstract: "Print a domain's id.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name or UUID.") var domain: String

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain, byID: false)
                print(handle.id >= 0 ? "\(handle.id)" : "-")
            }
        }
    }

    /// `corral autostart DOMAIN [--disable]`.
    struct Autostart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a domain when the daemon starts (or not, with --disable).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Domain name, id or UUID.") var domain: String
        @Flag(help: "Turn autostart off.") var disable = false

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                try await connection.setDomainAutostart(handle, !disable)
                print(disable ? "Domain '\(handle.name)' unmarked as autostarted" : "Domain '\(handle.name)' marked as autostarted")
            }
        }
    }
}

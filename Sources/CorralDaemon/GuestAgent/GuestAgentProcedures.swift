import CorralJSON
import CorralNetwork
import CorralProtocol
import Foundation
import QEMUCommandLine
import XDR

/// `domtime`, `domhostname`, `domifaddr`, `domfsinfo`, `domfsfreeze`/`domfsthaw`,
/// `set-user-password`: libvirt's calls the guest agent answers.
enum GuestAgentProcedures {
    /// `virDomainInterfaceAddressesSource`.
    enum AddressSource: UInt32 {
        case lease = 0, agent = 1, arp = 2
    }

    /// The current leases of a guest's interfaces on virtual networks, with each interface.
    static func leases(_ devices: GuestDevices, networks: NetworkDriver?) async -> [(GuestDevices.Interface, DHCPLease)] {
        guard let networks else { return [] }
        var found: [(GuestDevices.Interface, DHCPLease)] = []
        for interface in devices.interfaces {
            guard let network = interface.connection?.network, let mac = interface.mac,
                let record = networks.registry.network(named: network), record.isActive else { continue }
            for lease in (try? await networks.leases(record.handle, mac: mac)) ?? [] { found.append((interface, lease)) }
        }
        return found
    }

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, networks: NetworkDriver?) {
        table.registerAsync(Remote.DomainGetTime.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainGetTime")
            let value = try await GuestAgentCalls.run(arguments.dom, "guest-get-time", registry: registry)
            guard let nanoseconds = value.intValue else { throw GuestAgentCalls.malformed("guest-get-time", "not a number") }
            let (seconds, remainder) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
            return .init(seconds: seconds, nseconds: UInt32(clamping: remainder))
        }
        table.registerAsync(Remote.DomainSetTime.self) { arguments, _ throws(RemoteError) in
            // VIR_DOMAIN_TIME_SYNC: the guest reads its own hardware clock.
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1, function: "qemuDomainSetTime")
            var time: JSONValue?
            if arguments.flags & 1 == 0 {
                guard arguments.nseconds < 1_000_000_000 else {
                    throw RemoteError.invalidArgument("nseconds in virDomainSetTime must be less than 1000000000", domain: .domain)
                }
                let (product, overflow) = arguments.seconds.multipliedReportingOverflow(by: 1_000_000_000)
                let (sum, overflow2) = product.addingReportingOverflow(Int64(arguments.nseconds))
                guard !overflow, !overflow2, arguments.seconds >= 0 else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "Time '\(arguments.seconds)' is too big")
                }
                time = .object([("time", .number(JSONNumber(sum)))])
            }
            _ = try await GuestAgentCalls.run(arguments.dom, "guest-set-time", time, registry: registry)
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainGetHostname.self) { arguments, _ throws(RemoteError) in
            // LEASE 1, AGENT 2; none means the agent.
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1 | 2, function: "qemuDomainGetHostname")
            guard arguments.flags != 3 else {
                throw RemoteError.invalidArgument("Flags 'VIR_DOMAIN_GET_HOSTNAME_LEASE' and 'VIR_DOMAIN_GET_HOSTNAME_AGENT' are mutually exclusive", domain: .domain)
            }
            let record = try registry.record(for: arguments.dom)
            if arguments.flags == 1 {
                // The first hostname a DHCP lease of one of the guest's network interfaces has.
                guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
                for lease in await leases(guest.devices, networks: networks) {
                    if let hostname = lease.1.hostname { return .init(hostname: hostname) }
                }
                throw RemoteError(code: .noHostname, domain: .qemu, detail: "no hostname found for domain \(record.name)")
            }
            let value = try await GuestAgentCalls.run(arguments.dom, "guest-get-host-name", registry: registry)
            guard let name = value["host-name"]?.stringValue else { throw GuestAgentCalls.malformed("guest-get-host-name", "no host-name") }
            return .init(hostname: name)
        }
        table.registerAsync(Remote.DomainInterfaceAddresses.self) { arguments, context throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainInterfaceAddresses")
            guard let source = AddressSource(rawValue: arguments.source) else {
                throw RemoteError(code: .argumentUnsupported, domain: .qemu, detail: "Unknown IP address data source \(arguments.source)")
            }
            if source == .agent, context.isReadOnly { throw RemoteError.readOnly(api: "virDomainInterfaceAddresses") }
            let record = try registry.record(for: arguments.dom)
            guard let guest = record.runtime else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
            }
            switch source {
            case .lease:
                // The DHCP leases of the guest's interfaces on virtual networks, by tap.
                var interfaces: [DomainInterface] = []
                for (names, lease) in await leases(guest.devices, networks: networks) {
                    let address = DomainIPAddress(type: lease.family == .ipv4 ? 0 : 1, addr: "\(lease.address)", prefix: lease.prefix)
                    let name = names.connection?.tap ?? names.alias
                    if let index = interfaces.firstIndex(where: { $0.name == name }) {
                        interfaces[index].addrs.append(address)
                    } else {
                        interfaces.append(DomainInterface(name: name, hwaddr: names.mac, addrs: [address]))
                    }
                }
                return .init(ifaces: interfaces)
            case .agent:
                return .init(ifaces: try GuestAgentCalls.interfaces(try await GuestAgentCalls.run(arguments.dom, "guest-network-get-interfaces", registry: registry)))
            case .arp:
                let names = guest.devices.interfaces.compactMap { interface in interface.mac.map { (alias: interface.alias, mac: $0) } }
                let text = (try? await BlockingWork.run { (try? String(contentsOfFile: "/proc/net/arp", encoding: .utf8)) ?? "" }) ?? ""
                return .init(ifaces: GuestAgentCalls.arpInterfaces(text, names: names))
            }
        }
        table.registerAsync(Remote.DomainGetFsinfo.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainGetFSInfo")
            let info = try GuestAgentCalls.filesystems(try await GuestAgentCalls.run(arguments.dom, "guest-get-fsinfo", registry: registry))
            return .init(info: info, ret: UInt32(info.count))
        }
        @Sendable func freeze(_ command: String, _ listCommand: String, _ arguments: Remote.DomainFsfreeze.Arguments) async throws(RemoteError) -> Int32 {
            let value: JSONValue
            if arguments.mountpoints.isEmpty {
                value = try await GuestAgentCalls.run(arguments.dom, command, registry: registry)
            } else {
                value = try await GuestAgentCalls.run(
                    arguments.dom, listCommand, .object([("mountpoints", .array(arguments.mountpoints.map { .string($0) }))]), registry: registry)
            }
            guard let count = value.intValue, let filesystems = Int32(exactly: count) else { throw GuestAgentCalls.malformed(command, "not a count") }
            return filesystems
        }
        table.registerAsync(Remote.DomainFsfreeze.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainFSFreeze")
            return .init(filesystems: try await freeze("guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list", arguments))
        }
        table.registerAsync(Remote.DomainFsthaw.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainFSThaw")
            guard arguments.mountpoints.isEmpty else {
                throw RemoteError(code: .argumentUnsupported, domain: .qemu, detail: "specifying mountpoints is not supported")
            }
            return .init(filesystems: try await freeze("guest-fsfreeze-thaw", "guest-fsfreeze-thaw", .init(dom: arguments.dom, mountpoints: [], flags: 0)))
        }
        table.registerAsync(Remote.DomainSetUserPassword.self) { arguments, _ throws(RemoteError) in
            // VIR_DOMAIN_PASSWORD_ENCRYPTED: the password is already crypt(3)ed.
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1, function: "qemuDomainSetUserPassword")
            guard let user = arguments.user else { throw RemoteError.invalidArgument("user in virDomainSetUserPassword must not be NULL", domain: .domain) }
            guard let password = arguments.password else {
                throw RemoteError.invalidArgument("password in virDomainSetUserPassword must not be NULL", domain: .domain)
            }
            _ = try await GuestAgentCalls.run(arguments.dom, "guest-set-user-password", .object([
                ("crypted", .bool(arguments.flags & 1 != 0)), ("username", .string(user)), ("password", .string(Data(password.utf8).base64EncodedString())),
            ]), registry: registry)
            return XDRVoid()
        }
    }
}

import CorralJSON
import CorralProtocol
import Foundation
import NIOPosix

/// The libvirt calls the guest agent answers, as typed requests: the command goes over the
/// guest's agent channel (as `qemu-agent-command` does), and the reply's `return` member comes
/// back, or libvirt's error.
enum GuestAgentCalls {
    /// Runs `command` with `arguments` on the agent of the running domain `handle`; returns the
    /// reply's `return` member.
    static func run(_ handle: RemoteDomain, _ command: String, _ arguments: JSONValue? = nil, registry: DomainRegistry) async throws(RemoteError) -> JSONValue {
        let record = try registry.record(for: handle)
        guard let guest = record.runtime else {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
        }
        let socket = try agentSocket(of: guest)
        var message: [(String, JSONValue)] = [("execute", .string(command))]
        if let arguments { message.append(("arguments", arguments)) }
        let text = try await GuestAgentChannel.execute(socket: socket, command: .object(message), timeout: -1, group: MultiThreadedEventLoopGroup.singleton)
        return try result(of: text, command: command)
    }

    /// The socket of a running guest's agent channel, or libvirt's error when it has none.
    static func agentSocket(of guest: GuestRuntime) throws(RemoteError) -> String {
        guard let socket = guest.agentSocket else {
            throw RemoteError(code: .argumentUnsupported, domain: .qemu, detail: "QEMU guest agent is not configured")
        }
        return socket
    }

    /// The `return` of an agent reply, or libvirt's error for its `error`.
    static func result(of reply: String, command: String) throws(RemoteError) -> JSONValue {
        guard let value = try? JSONValue.parse(reply) else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU agent command '\(command)': malformed reply")
        }
        if let error = value["error"] {
            let description = error["desc"]?.stringValue ?? error["class"]?.stringValue ?? "unknown error"
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU agent command '\(command)': \(description)")
        }
        return value["return"] ?? .object([])
    }

    static func malformed(_ command: String, _ what: String) -> RemoteError {
        RemoteError(code: .internalError, domain: .qemu, detail: "malformed return value of '\(command)': \(what)")
    }

    /// `guest-network-get-interfaces` as libvirt's interface list (address type IPV4 0, IPV6 1).
    static func interfaces(_ value: JSONValue) throws(RemoteError) -> [DomainInterface] {
        guard case .array(let entries) = value else { throw malformed("guest-network-get-interfaces", "not an array") }
        return entries.compactMap { entry -> DomainInterface? in
            guard let name = entry["name"]?.stringValue else { return nil }
            let addresses = (entry["ip-addresses"]?.arrayValue ?? []).compactMap { address -> DomainIPAddress? in
                guard let text = address["ip-address"]?.stringValue, let prefix = address["prefix"]?.uint64Value, let kind = address["ip-address-type"]?.stringValue
                else { return nil }
                return DomainIPAddress(type: kind == "ipv6" ? 1 : 0, addr: text, prefix: UInt32(clamping: prefix))
            }
            return DomainInterface(name: name, hwaddr: entry["hardware-address"]?.stringValue, addrs: addresses)
        }
    }

    /// `guest-get-fsinfo` as libvirt's file system list; each disk the agent names is matched to
    /// the domain's disk target by its serial or device name where it can be.
    static func filesystems(_ value: JSONValue) throws(RemoteError) -> [DomainFilesystemInfo] {
        guard case .array(let entries) = value else { throw malformed("guest-get-fsinfo", "not an array") }
        return entries.compactMap { entry in
            guard let mountpoint = entry["mountpoint"]?.stringValue, let name = entry["name"]?.stringValue, let type = entry["type"]?.stringValue else { return nil }
            let aliases = (entry["disk"]?.arrayValue ?? []).compactMap { disk in disk["dev"]?.stringValue.map { ($0 as NSString).lastPathComponent } }
            return DomainFilesystemInfo(mountpoint: mountpoint, name: name, fstype: type, devAliases: aliases)
        }
    }

    /// ARP entries of the host (`/proc/net/arp`) for `macs`: interface name, MAC, IPv4 address.
    static func arpInterfaces(_ text: String, names: [(alias: String, mac: String)]) -> [DomainInterface] {
        var found: [DomainInterface] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 4 else { continue }
            let ip = String(fields[0]), mac = fields[3].lowercased()
            guard let interface = names.first(where: { $0.mac.lowercased() == mac }) else { continue }
            found.append(DomainInterface(name: interface.alias, hwaddr: interface.mac, addrs: [DomainIPAddress(type: 0, addr: ip, prefix: 0)]))
        }
        return found
    }
}

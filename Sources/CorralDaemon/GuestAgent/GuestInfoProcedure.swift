import CorralJSON
import CorralProtocol
import Foundation
import NIOPosix
import XDR

/// `virsh guestinfo`: what the guest agent tells about the guest (users, OS, time zone, host
/// name, file systems, disks, interfaces), as libvirt's typed parameters. With no types asked
/// for, what the agent does not support is left out; asked for, it is an error.
enum GuestInfoProcedure {
    /// `virDomainGuestInfoTypes`.
    struct InfoTypes: OptionSet {
        let rawValue: UInt32
        static let users = InfoTypes(rawValue: 1), os = InfoTypes(rawValue: 2), timezone = InfoTypes(rawValue: 4), hostname = InfoTypes(rawValue: 8)
        static let filesystem = InfoTypes(rawValue: 16), disks = InfoTypes(rawValue: 32), interfaces = InfoTypes(rawValue: 64)
        static let all: InfoTypes = [.users, .os, .timezone, .hostname, .filesystem, .disks, .interfaces]
    }

    static func register(in table: inout ProcedureTable, registry: DomainRegistry) {
        table.registerAsync(Remote.DomainGetGuestInfo.self) { arguments, _ throws(RemoteError) in
            let asked = InfoTypes(rawValue: arguments.types)
            guard asked.isSubset(of: .all) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unsupported guest information types '0x\(String(arguments.types & ~InfoTypes.all.rawValue, radix: 16))'")
            }
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainGetGuestInfo")
            let record = try registry.record(for: arguments.dom)
            guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
            let socket = try GuestAgentCalls.agentSocket(of: guest)
            let types = asked.isEmpty ? InfoTypes.all : asked
            let reportUnsupported = !asked.isEmpty
            /// The command's `return`, or `nil` when the agent lacks it and nobody asked for it.
            func call(_ command: String) async throws(RemoteError) -> JSONValue? {
                let text = try await GuestAgentChannel.execute(
                    socket: socket, command: .object([("execute", .string(command))]), timeout: -1, group: MultiThreadedEventLoopGroup.singleton)
                if !reportUnsupported, let reply = try? JSONValue.parse(text), let kind = reply["error"]?["class"]?.stringValue,
                    kind == "CommandNotFound" || kind == "CommandDisabled" {
                    return nil
                }
                return try GuestAgentCalls.result(of: text, command: command)
            }
            var parameters: [TypedParameter] = []
            func add(_ field: String, _ value: TypedParameter.Value) { parameters.append(TypedParameter(field, value)) }
            if types.contains(.users), let users = try await call("guest-get-users")?.arrayValue {
                add("user.count", .uint(UInt32(clamping: users.count)))
                for (index, user) in users.enumerated() {
                    if let name = user["user"]?.stringValue { add("user.\(index).name", .string(name)) }
                    if let domain = user["domain"]?.stringValue { add("user.\(index).domain", .string(domain)) }
                    // The agent's seconds (a fraction) as libvirt's milliseconds.
                    if let seconds = user["login-time"]?.numberValue?.doubleValue, seconds >= 0, seconds < 1e15 { add("user.\(index).login-time", .unsignedLongLong(UInt64(seconds * 1000))) }
                }
            }
            if types.contains(.os), let os = try await call("guest-get-osinfo") {
                for (member, field) in [
                    ("id", "os.id"), ("name", "os.name"), ("pretty-name", "os.pretty-name"), ("version", "os.version"), ("version-id", "os.version-id"),
                    ("kernel-release", "os.kernel-release"), ("kernel-version", "os.kernel-version"), ("machine", "os.machine"),
                    ("variant", "os.variant"), ("variant-id", "os.variant-id"),
                ] {
                    if let value = os[member]?.stringValue { add(field, .string(value)) }
                }
            }
            if types.contains(.timezone), let zone = try await call("guest-get-timezone") {
                if let name = zone["zone"]?.stringValue { add("timezone.name", .string(name)) }
                if let offset = zone["offset"]?.intValue, let value = Int32(exactly: offset) { add("timezone.offset", .int(value)) }
            }
            if types.contains(.hostname), let host = try await call("guest-get-host-name"), let name = host["host-name"]?.stringValue {
                add("hostname", .string(name))
            }
            if types.contains(.filesystem), let filesystems = try await call("guest-get-fsinfo")?.arrayValue {
                add("fs.count", .uint(UInt32(clamping: filesystems.count)))
                for (index, fs) in filesystems.enumerated() {
                    let prefix = "fs.\(index)."
                    if let value = fs["mountpoint"]?.stringValue { add(prefix + "mountpoint", .string(value)) }
                    if let value = fs["name"]?.stringValue { add(prefix + "name", .string(value)) }
                    if let value = fs["type"]?.stringValue { add(prefix + "fstype", .string(value)) }
                    if let value = fs["total-bytes"]?.uint64Value { add(prefix + "total-bytes", .unsignedLongLong(value)) }
                    if let value = fs["used-bytes"]?.uint64Value { add(prefix + "used-bytes", .unsignedLongLong(value)) }
                    let disks = fs["disk"]?.arrayValue ?? []
                    add(prefix + "disk.count", .uint(UInt32(clamping: disks.count)))
                    for (number, disk) in disks.enumerated() {
                        if let serial = disk["serial"]?.stringValue { add(prefix + "disk.\(number).serial", .string(serial)) }
                        if let device = disk["dev"]?.stringValue { add(prefix + "disk.\(number).device", .string(device)) }
                    }
                }
            }
            if types.contains(.disks), let disks = try await call("guest-get-disks")?.arrayValue {
                add("disk.count", .uint(UInt32(clamping: disks.count)))
                for (index, disk) in disks.enumerated() {
                    let prefix = "disk.\(index)."
                    if let name = disk["name"]?.stringValue { add(prefix + "name", .string(name)) }
                    if let partition = disk["partition"]?.boolValue { add(prefix + "partition", .boolean(partition)) }
                    let dependencies = disk["dependencies"]?.arrayValue ?? []
                    if !dependencies.isEmpty {
                        add(prefix + "dependency.count", .uint(UInt32(clamping: dependencies.count)))
                        for (number, dependency) in dependencies.enumerated() {
                            if let name = dependency.stringValue { add(prefix + "dependency.\(number).name", .string(name)) }
                        }
                    }
                    if let serial = disk["address"]?["serial"]?.stringValue { add(prefix + "serial", .string(serial)) }
                    if let alias = disk["alias"]?.stringValue { add(prefix + "guest_alias", .string(alias)) }
                }
            }
            if types.contains(.interfaces), let value = try await call("guest-network-get-interfaces") {
                let interfaces = try GuestAgentCalls.interfaces(value)
                add("if.count", .uint(UInt32(clamping: interfaces.count)))
                for (index, interface) in interfaces.enumerated() {
                    let prefix = "if.\(index)."
                    add(prefix + "name", .string(interface.name))
                    if let mac = interface.hwaddr { add(prefix + "hwaddr", .string(mac)) }
                    add(prefix + "addr.count", .uint(UInt32(clamping: interface.addrs.count)))
                    for (number, address) in interface.addrs.enumerated() {
                        add(prefix + "addr.\(number).type", .string(address.type == 1 ? "ipv6" : "ipv4"))
                        add(prefix + "addr.\(number).addr", .string(address.addr))
                        add(prefix + "addr.\(number).prefix", .uint(address.prefix))
                    }
                }
            }
            return .init(params: parameters)
        }
    }
}

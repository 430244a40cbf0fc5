import CorralNetwork
import DomainXML
import CProcessDescriptors
import Foundation
import POSIXSupport

/// The host side of virtual networks: bridges, taps and addresses through iproute2's `ip`
/// (several changes in one `ip -batch` run), forwarding sysctls, the network's nftables table
/// through `nft -f`, and dnsmasq. Every program runs with an argument vector, never a shell.
/// Blocking: callers run it on ``NetworkWork``.
enum NetworkHost {
    static let ipTool = "/usr/sbin/ip"
    static let nftTool = "/usr/sbin/nft"
    static let dnsmasqTool = "/usr/sbin/dnsmasq"

    /// Runs a tool; its standard error is the error when it fails.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], input: String? = nil, timeout: Double = 30) throws(NetworkError) -> String {
        let output: ChildProcess.Output
        do {
            output = try ChildProcess.run(executable, arguments, input: input, timeout: timeout)
        } catch {
            throw NetworkError(.operationFailed, "cannot run \(executable): \(error)")
        }
        guard output.status == 0 else {
            let message = output.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            let command = ([executable] + arguments).joined(separator: " ")
            throw NetworkError(.operationFailed, "\(command) failed: \(message.isEmpty ? "status \(output.status)" : message)")
        }
        return output.standardOutput
    }

    /// Runs `ip` commands in one process (`ip -batch -`), stopping at the first that fails.
    static func ipBatch(_ commands: [[String]]) throws(NetworkError) {
        guard !commands.isEmpty else { return }
        try run(ipTool, ["-batch", "-"], input: commands.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n")
    }

    /// Whether the host has a network device called `name`.
    static func deviceExists(_ name: String) -> Bool {
        FirewallRuleset.isSafeName(name) && FileManager.default.fileExists(atPath: "/sys/class/net/\(name)")
    }

    /// Whether `name` is a bridge.
    static func isBridge(_ name: String) -> Bool {
        FirewallRuleset.isSafeName(name) && FileManager.default.fileExists(atPath: "/sys/class/net/\(name)/bridge")
    }

    // MARK: Bridges

    /// Creates the bridge of a network with its MAC, MTU, STP and addresses, and brings it up.
    static func createBridge(_ definition: NetworkDefinition) throws(NetworkError) {
        guard let bridge = definition.bridge.name, FirewallRuleset.isSafeName(bridge) else {
            throw NetworkError(.internalError, "invalid bridge name '\(definition.bridge.name ?? "")'")
        }
        if deviceExists(bridge) { throw NetworkError(.operationFailed, "Unable to create bridge \(bridge): File exists") }
        // (`ip -batch` takes no options per line: the family follows from each address.)
        // The forward delay is set before STP is enabled, as libvirt does: the kernel refuses a
        // delay under 2 s while STP runs (and raises it to 2 s when STP starts).
        var link = ["link", "add", "name", bridge]
        if let mac = definition.mac { link += ["address", "\(mac)"] }
        if let mtu = definition.mtu { link += ["mtu", "\(mtu)"] }
        link += ["type", "bridge", "forward_delay", "\(min(definition.bridge.delay, 1_000_000) * 100)"]
        var commands = [link]
        if definition.bridge.stp { commands.append(["link", "set", "dev", bridge, "type", "bridge", "stp_state", "1"]) }
        try ipBatch(commands)
        do throws(NetworkError) {
            try configureIPv6(definition, bridge: bridge)
            var addresses: [[String]] = []
            for ip in definition.ips {
                guard let prefix = ip.effectivePrefix else { throw NetworkError(.internalError, "bridge '\(bridge)' has an invalid prefix") }
                if ip.address.family == .ipv4 {
                    addresses.append(["address", "add", "\(ip.address)/\(prefix)", "broadcast", "\(ip.address.broadcast(prefix: prefix))", "dev", bridge])
                } else {
                    addresses.append(["address", "add", "\(ip.address)/\(prefix)", "dev", bridge, "nodad"])
                }
            }
            addresses.append(["link", "set", "dev", bridge, "up"])
            for route in definition.routes {
                addresses.append(["route", "add", "\(route.address.masked(prefix: route.effectivePrefix))/\(route.effectivePrefix)", "via", "\(route.gateway)", "dev", bridge, "proto", "static", "metric", "\(route.metric ?? 1)"])
            }
            try ipBatch(addresses)
        } catch {
            removeBridge(bridge)
            throw error
        }
    }

    /// libvirt's IPv6 settings for a bridge: disabled without IPv6 addresses; with them, no
    /// router advertisements accepted and no autoconfiguration on the bridge.
    private static func configureIPv6(_ definition: NetworkDefinition, bridge: String) throws(NetworkError) {
        let hasIPv6 = !definition.ips(of: .ipv6).isEmpty
        let base = "/proc/sys/net/ipv6/conf/\(bridge)/"
        guard FileManager.default.fileExists(atPath: base) else { return }
        try writeSysctl(base + "disable_ipv6", hasIPv6 ? "0" : "1")
        if hasIPv6 {
            try writeSysctl(base + "accept_ra", "0")
            try writeSysctl(base + "autoconf", "0")
        }
    }

    /// Removes a bridge (and so its addresses); a missing one is not an error.
    static func removeBridge(_ bridge: String) {
        guard deviceExists(bridge) else { return }
        _ = try? run(ipTool, ["link", "del", "dev", bridge])
    }

    // MARK: Forwarding

    /// libvirt's `networkEnableIPForwarding`: IPv4 and (when the network has IPv6) IPv6 forwarding on.
    static func enableForwarding(ipv4: Bool, ipv6: Bool) throws(NetworkError) {
        if ipv4 { try writeSysctl("/proc/sys/net/ipv4/ip_forward", "1") }
        if ipv6 { try writeSysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1") }
    }

    static func writeSysctl(_ path: String, _ value: String) throws(NetworkError) {
        if let current = try? String(contentsOfFile: path, encoding: .utf8), current.trimmingCharacters(in: .whitespacesAndNewlines) == value { return }
        do {
            try (value + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        } catch {
            throw NetworkError(.operationFailed, "cannot write \(path): \(error.localizedDescription)")
        }
    }

    // MARK: Firewall

    /// Replaces the network's table with its rules (one transaction).
    static func applyFirewall(_ rules: FirewallRuleset) throws(NetworkError) {
        guard !rules.script.isEmpty else { return }
        try run(nftTool, ["-f", "-"], input: rules.script)
    }

    /// Deletes a network's table; a missing one (or a host without nft) is not an error.
    static func removeFirewall(tableName: String) {
        guard FileManager.default.isExecutableFile(atPath: nftTool) else { return }
        _ = try? run(nftTool, ["-f", "-"], input: FirewallRuleset.deleteScript(tableName: tableName))
    }

    // MARK: Bandwidth

    static let tcTool = "/usr/sbin/tc"

    /// Shapes `device`'s traffic as `<bandwidth>` says (``TrafficShaping``); nothing to set is
    /// not an error.
    static func shape(_ device: String, inbound: NetworkDefinition.Rate?, outbound: NetworkDefinition.Rate?) throws(NetworkError) {
        guard FirewallRuleset.isSafeName(device) else { throw NetworkError(.internalError, "invalid device name '\(device)'") }
        guard (inbound?.average ?? 0) > 0 || (outbound?.average ?? 0) > 0 else { return }
        if (inbound?.floor ?? 0) > 0 {
            throw NetworkError(.configUnsupported, "bandwidth 'floor' (a share of the network's inbound rate) is not supported by Corral")
        }
        let clear = TrafficShaping.clearCommands(device: device).joined(separator: "\n") + "\n"
        _ = try? run(tcTool, ["-force", "-batch", "-"], input: clear)
        do throws(NetworkError) {
            let inboundLines = TrafficShaping.inboundCommands(device: device, inbound)
            if !inboundLines.isEmpty {
                try run(tcTool, ["-batch", "-"], input: inboundLines.joined(separator: "\n") + "\n")
                _ = try? run(tcTool, ["-batch", "-"], input: TrafficShaping.fairQueueCommand(device: device) + "\n")
            }
            let outboundLines = TrafficShaping.outboundCommands(device: device, outbound)
            if !outboundLines.isEmpty {
                do throws(NetworkError) {
                    try run(tcTool, ["-batch", "-"], input: outboundLines.joined(separator: "\n") + "\n")
                } catch {
                    throw NetworkError(
                        .configUnsupported,
                        "outbound bandwidth cannot be applied on \(device): this kernel lacks tc's u32 classifier or police action (\(error.message))")
                }
            }
        } catch {
            _ = try? run(tcTool, ["-force", "-batch", "-"], input: clear)
            throw error
        }
    }

    // MARK: Taps

    /// Creates a persistent tap, gives it the host side of the guest's MAC (first byte 0xFE, as
    /// libvirt), the interface's `<mtu>` or else the bridge's MTU, attaches it to `bridge` (an
    /// isolated port when asked) and brings it up. QEMU opens it by name (once per queue of a multi-queue tap).
    static func createTap(
        _ name: String, bridge: String?, guestMAC: MACAddress, multiQueue: Bool, mtu: Int? = nil, coalesceRxFrames: UInt32? = nil, isolated: Bool = false
    ) throws(NetworkError) {
        guard FirewallRuleset.isSafeName(name) else { throw NetworkError(.internalError, "invalid tap name '\(name)'") }
        var hostMAC = guestMAC.bytes
        hostMAC[0] = 0xFE
        var commands = [["tuntap", "add", "dev", name, "mode", "tap"] + (multiQueue ? ["multi_queue"] : [])]
        commands.append(["link", "set", "dev", name, "address", "\(MACAddress(bytes: hostMAC))"])
        if let mtu {
            commands.append(["link", "set", "dev", name, "mtu", String(mtu)])
        }
        if let bridge {
            if mtu == nil, let mtu = try? String(contentsOfFile: "/sys/class/net/\(bridge)/mtu", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), UInt32(mtu) != nil {
                commands.append(["link", "set", "dev", name, "mtu", mtu])
            }
            commands.append(["link", "set", "dev", name, "master", bridge])
            // An isolated port (`<port isolated='yes'/>`): it forwards only to the bridge's
            // ports that are not isolated, as libvirt's virNetDevBridgePortSetIsolated.
            if isolated { commands.append(["link", "set", "dev", name, "type", "bridge_slave", "isolated", "on"]) }
        }
        commands.append(["link", "set", "dev", name, "up"])
        do throws(NetworkError) {
            try ipBatch(commands)
            // `<coalesce>`: the tap batches this many received frames (tun's rx_batched).
            if let frames = coalesceRxFrames, corral_set_rx_coalesced_frames(name, frames) != 0 {
                throw NetworkError(.operationFailed, "Cannot set coalesce info on '\(name)': \(String(cString: strerror(errno)))")
            }
        } catch {
            removeTap(name)
            throw error
        }
    }

    /// Opens the tap `name` once per queue through the tun device node `device` (an
    /// interface's `<backend tap>`), as libvirt's `virNetDevTapCreate` opens its taps: QEMU then
    /// takes the descriptors instead of opening `/dev/net/tun` itself.
    static func openTapQueues(_ name: String, through device: String, queues: Int, virtioHeader: Bool) throws(NetworkError) -> [Int32] {
        var descriptors: [Int32] = []
        for _ in 0..<max(queues, 1) {
            let descriptor = corral_tap_attach(device, name, virtioHeader ? 1 : 0, queues > 1 ? 1 : 0)
            guard descriptor >= 0 else {
                let reason = String(cString: strerror(errno))
                for descriptor in descriptors { close(descriptor) }
                throw NetworkError(.operationFailed, descriptor == -1
                    ? "Unable to open \(device), is tun module loaded?: \(reason)" : "Unable to create tap device \(name): \(reason)")
            }
            descriptors.append(descriptor)
        }
        return descriptors
    }

    /// Makes `tap` an isolated port of its bridge, or a plain one (libvirt's
    /// virNetDevBridgePortSetIsolated).
    static func setPortIsolated(_ tap: String, _ isolated: Bool) throws(NetworkError) {
        guard FirewallRuleset.isSafeName(tap) else { throw NetworkError(.internalError, "invalid tap name '\(tap)'") }
        try ipBatch([["link", "set", "dev", tap, "type", "bridge_slave", "isolated", isolated ? "on" : "off"]])
    }

    /// Deletes a tap; a missing one is not an error.
    static func removeTap(_ name: String) {
        guard deviceExists(name) else { return }
        _ = try? run(ipTool, ["tuntap", "del", "dev", name, "mode", "tap"])
        if deviceExists(name) { _ = try? run(ipTool, ["link", "del", "dev", name]) }
    }

    // MARK: macvtap

    /// Makes a guest's macvtap device `name` on the host device `link` (libvirt's
    /// virNetDevMacVLanCreateWithVPortProfile): the guest's own MAC address, the mode, up; then
    /// opens its tap device (`/dev/tapIFINDEX`, once per queue, waiting for it as libvirt waits
    /// for udev) and prepares each descriptor. Returns the descriptors (close-on-exec); on
    /// failure nothing is left.
    static func createMacvtap(
        _ name: String, link: String, mode: DomainDefinition.Interface.DirectMode, guestMAC: MACAddress, queues: Int, virtioHeader: Bool
    ) throws(NetworkError) -> [Int32] {
        guard FirewallRuleset.isSafeName(name) else { throw NetworkError(.internalError, "invalid macvtap name '\(name)'") }
        guard FirewallRuleset.isSafeName(link), deviceExists(link) else {
            throw NetworkError(.operationFailed, "error creating macvtap interface \(name)@\(link) (\(guestMAC)): No such device")
        }
        try ipBatch([
            ["link", "add", "link", link, "name", name, "address", "\(guestMAC)", "type", "macvtap", "mode", mode.kernelName],
            ["link", "set", "dev", name, "up"],
        ])
        var descriptors: [Int32] = []
        do throws(NetworkError) {
            let indexText = (try? String(contentsOfFile: "/sys/class/net/\(name)/ifindex", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let index = indexText.flatMap({ Int32($0) }) else { throw NetworkError(.operationFailed, "cannot read the interface index of \(name)") }
            // The device's numbers as sysfs gives them: /dev is shared by all network
            // namespaces, where interface indexes repeat, so /dev/tapN may be another's.
            let numbers = (try? String(contentsOfFile: "/sys/class/net/\(name)/macvtap/tap\(index)/dev", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").compactMap { UInt32($0) } ?? []
            guard numbers.count == 2 else { throw NetworkError(.operationFailed, "cannot read the tap device numbers of macvtap \(name)") }
            for _ in 0..<max(queues, 1) {
                let descriptor = try openTapDevice(of: name, index: index, major: numbers[0], minor: numbers[1])
                descriptors.append(descriptor)
                guard corral_macvtap_prepare(descriptor, virtioHeader ? 1 : 0, queues > 1 ? 1 : 0) == 0 else {
                    throw NetworkError(.operationFailed, "unable to set vnet or multiqueue flags on macvtap: \(String(cString: strerror(errno)))")
                }
            }
            return descriptors
        } catch {
            for descriptor in descriptors { close(descriptor) }
            removeTap(name)
            throw error
        }
    }

    /// Opens a macvtap's tap device: `/dev/tapIFINDEX` when it is that device (checked against
    /// sysfs's numbers), else a node of the right numbers made for the moment in /dev and
    /// removed once open (another namespace's interface may hold the name), else
    /// `/dev/tapIFINDEX` again for a while, as libvirt waits for udev to make it.
    static func openTapDevice(of name: String, index: Int32, major: UInt32, minor: UInt32) throws(NetworkError) -> Int32 {
        let device = "/dev/tap\(index)"
        func openIfRight(_ path: String) -> Int32? {
            let descriptor = open(path, O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            var status = stat()
            if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFCHR, deviceNumbers(UInt64(status.st_rdev)) == (major, minor) { return descriptor }
            close(descriptor)
            return nil
        }
        if let descriptor = openIfRight(device) { return descriptor }
        let privateNode = "/dev/.corral-tap-\(major)-\(minor)-\(getpid())"
        unlink(privateNode)
        if mknod(privateNode, S_IFCHR | 0o600, deviceNumber(major: major, minor: minor)) == 0 {
            let descriptor = openIfRight(privateNode)
            unlink(privateNode)
            if let descriptor { return descriptor }
        }
        for _ in 0..<10 {
            usleep(20_000)
            if let descriptor = openIfRight(device) { return descriptor }
        }
        throw NetworkError(.operationFailed, "cannot open macvtap tap device \(device) of \(name) (\(major):\(minor)): it is missing or another network namespace's, and no node of its own could be made")
    }

    /// glibc's `makedev()` (a macro Swift does not import).
    static func deviceNumber(major: UInt32, minor: UInt32) -> dev_t {
        let major = UInt64(major), minor = UInt64(minor)
        return dev_t(((major & 0xfff) << 8) | ((major & ~0xfff) << 32) | (minor & 0xff) | ((minor & ~0xff) << 12))
    }

    /// glibc's split of a device number into major and minor (`major()`/`minor()`, macros Swift
    /// does not import).
    static func deviceNumbers(_ device: UInt64) -> (UInt32, UInt32) {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }

    // MARK: dnsmasq

    /// Starts dnsmasq for a network: it daemonizes and writes its pid file.
    static func startDnsmasq(configurationPath: String, pidFile: String) throws(NetworkError) -> pid_t {
        try? FileManager.default.removeItem(atPath: pidFile)
        try run(dnsmasqTool, ["--conf-file=\(configurationPath)"])
        guard let pid = readPid(pidFile) else { throw NetworkError(.operationFailed, "dnsmasq did not write its pid file \(pidFile)") }
        return pid
    }

    /// The pid in a pid file, if it names a running dnsmasq.
    static func readPid(_ path: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        guard let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8), command.hasPrefix("dnsmasq") else { return nil }
        // A killed dnsmasq stays a zombie until its parent reaps it: not running.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), stat.contains(") Z ") { return nil }
        return pid
    }

    /// Stops dnsmasq: SIGTERM, then SIGKILL after a second.
    static func stopDnsmasq(pidFile: String) {
        guard let pid = readPid(pidFile) else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            if kill(pid, 0) != 0 { break }
            usleep(10_000)
        }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: pidFile)
    }
}

import Logging
import CorralNetwork
import CorralProtocol
import Foundation

extension NetworkDriver {
    /// Where a network's dnsmasq files are: `run-dir/networks/NAME/`, removed when it stops, and
    /// the leases beside it in `NAME.leases`, kept while the network is defined (as libvirt keeps
    /// its status file), so a guest that comes back gets its address at once — dnsmasq checks
    /// an address nobody holds with a ping first, which takes seconds.
    func dnsmasqPaths(_ name: String) -> DnsmasqConfiguration.Paths {
        let directory = runDirectory + "/" + name
        return DnsmasqConfiguration.Paths(
            pidFile: directory + "/dnsmasq.pid", hostsFile: directory + "/dnsmasq.hostsfile", additionalHostsFile: directory + "/dnsmasq.addnhosts",
            leaseFile: runDirectory + "/" + name + ".leases")
    }

    /// Forgets a network's leases (it is no longer defined).
    func removeLeases(_ name: String) async {
        let path = dnsmasqPaths(name).leaseFile
        _ = try? await NetworkWork.run { () throws(NetworkError) in try? FileManager.default.removeItem(atPath: path) }
    }

    func dnsmasqConfigurationPath(_ name: String) -> String { runDirectory + "/" + name + "/dnsmasq.conf" }

    /// Makes a network's host side: its bridge and addresses, forwarding, its firewall table and
    /// its dnsmasq (as `networkStartNetworkVirtual`); then records it as running. A failure undoes
    /// what was done.
    func bringUp(_ definition: NetworkDefinition) async throws(RemoteError) {
        let paths = dnsmasqPaths(definition.name), configurationPath = dnsmasqConfigurationPath(definition.name)
        let liveStore = self.liveStore, liveXML = NetworkXMLFormatter.format(definition, inactive: false)
        // Everything that can be refused without touching the host is checked first.
        let rules: FirewallRuleset
        let dnsmasq: DnsmasqConfiguration?
        do throws(NetworkError) {
            rules = try FirewallRuleset(definition)
            dnsmasq = DnsmasqConfiguration.isNeeded(for: definition) ? try DnsmasqConfiguration(definition, paths: paths) : nil
        } catch {
            throw RemoteError(error)
        }
        if definition.hasManagedBridge && getuid() != 0 {
            throw RemoteError(code: .operationFailed, domain: .network, detail: "starting network '\(definition.name)' needs root (bridges, addresses and firewall rules)")
        }
        try await NetworkWork.run { () throws(NetworkError) in
            guard definition.hasManagedBridge else {
                try Self.writeLive(liveStore, definition.name, liveXML)
                return
            }
            do throws(NetworkError) {
                try NetworkHost.createBridge(definition)
                if let bandwidth = definition.bandwidth, let bridge = definition.bridge.name {
                    try NetworkHost.shape(bridge, inbound: bandwidth.inbound, outbound: bandwidth.outbound)
                }
                // libvirt turns forwarding on for every mode with a <forward> (open included).
                if definition.forward != nil {
                    try NetworkHost.enableForwarding(ipv4: !definition.ips(of: .ipv4).isEmpty, ipv6: !definition.ips(of: .ipv6).isEmpty)
                }
                try NetworkHost.applyFirewall(rules)
                if let dnsmasq {
                    try Self.writeDnsmasqFiles(dnsmasq, paths: paths, configurationPath: configurationPath)
                    _ = try NetworkHost.startDnsmasq(configurationPath: configurationPath, pidFile: paths.pidFile)
                }
                try Self.writeLive(liveStore, definition.name, liveXML)
            } catch {
                Self.tearDown(definition, paths: paths, liveStore: liveStore)
                throw error
            }
        }
        logger.info("started network", metadata: ["network": "\(definition.name)", "bridge": "\(definition.bridge.name ?? "")"])
    }

    /// Removes a network's host side: dnsmasq, firewall table, bridge, files.
    func bringDown(_ definition: NetworkDefinition) async {
        let paths = dnsmasqPaths(definition.name), liveStore = self.liveStore
        _ = try? await NetworkWork.run { () throws(NetworkError) in Self.tearDown(definition, paths: paths, liveStore: liveStore) }
    }

    static func tearDown(_ definition: NetworkDefinition, paths: DnsmasqConfiguration.Paths, liveStore: DefinitionStore) {
        NetworkHost.stopDnsmasq(pidFile: paths.pidFile)
        if FirewallRuleset.hasRules(definition) { NetworkHost.removeFirewall(tableName: FirewallRuleset.tableName(uuid: definition.uuid)) }
        if definition.hasManagedBridge, let bridge = definition.bridge.name { NetworkHost.removeBridge(bridge) }
        try? FileManager.default.removeItem(atPath: (paths.pidFile as NSString).deletingLastPathComponent)
        try? liveStore.remove(name: definition.name)
    }

    static func writeLive(_ liveStore: DefinitionStore, _ name: String, _ xml: String) throws(NetworkError) {
        do throws(StoreError) {
            try liveStore.write(name: name, xml: xml)
        } catch {
            throw NetworkError(.operationFailed, error.message)
        }
    }

    /// dnsmasq's files (read by dnsmasq at its start, before it drops its privileges).

    static func writeDnsmasqFiles(_ files: DnsmasqConfiguration, paths: DnsmasqConfiguration.Paths, configurationPath: String) throws(NetworkError) {
        let directory = (configurationPath as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            for (path, text) in [(configurationPath, files.configuration), (paths.hostsFile, files.hosts), (paths.additionalHostsFile, files.additionalHosts)] {
                try DefinitionStore.atomicWrite(path: path, contents: Array(text.utf8), durable: false)
                chmod(path, 0o644)
            }
        } catch {
            throw NetworkError(.operationFailed, "couldn't write dnsmasq config file '\(configurationPath)': \(error)")
        }
    }

    // MARK: Restart and autostart

    /// Networks that ran when the daemon stopped run again: with their bridge still there they
    /// are active (the firewall table replaced, dnsmasq started again if it died); without it,
    /// what is left of them is removed. Then those marked autostart start.
    func autostartAll() async {
        for (path, xml) in liveStore.loadAll() {
            guard let xml, let live = try? NetworkDefinition.parse(xml, newUUID: Self.newUUID) else {
                logger.error("ignoring a running network's status that does not read", metadata: ["file": "\(path)"])
                continue
            }
            var record = registry.network(named: live.name) ?? NetworkRecord(definition: live, isPersistent: false)
            if record.definition != live { record.runOnce(live) }
            let paths = dnsmasqPaths(live.name), configurationPath = dnsmasqConfigurationPath(live.name), liveStore = self.liveStore
            do throws(RemoteError) {
                try await NetworkWork.run { () throws(NetworkError) in
                    guard live.hasManagedBridge else { return }
                    guard let bridge = live.bridge.name, NetworkHost.isBridge(bridge) else {
                        throw NetworkError(.operationFailed, "its bridge '\(live.bridge.name ?? "")' is gone")
                    }
                    try NetworkHost.applyFirewall(try FirewallRuleset(live))
                    if DnsmasqConfiguration.isNeeded(for: live) && NetworkHost.readPid(paths.pidFile) == nil {
                        try Self.writeDnsmasqFiles(try DnsmasqConfiguration(live, paths: paths), paths: paths, configurationPath: configurationPath)
                        _ = try NetworkHost.startDnsmasq(configurationPath: configurationPath, pidFile: paths.pidFile)
                    }
                }
                record.isActive = true
                registry.store(record)
            } catch {
                logger.error("a network that ran before the restart cannot run again", metadata: ["network": "\(live.name)", "error": "\(error.message ?? "")"])
                _ = try? await NetworkWork.run { () throws(NetworkError) in Self.tearDown(live, paths: paths, liveStore: liveStore) }
                if record.isPersistent {
                    record.isActive = false
                    record.applyPendingDefinition()
                    registry.store(record)
                }
            }
        }
        for record in registry.all() where record.autostart && !record.isActive {
            do throws(RemoteError) {
                try await start(record.handle)
            } catch {
                logger.error("could not autostart network", metadata: ["network": "\(record.definition.name)", "error": "\(error.message ?? "")"])
            }
        }
    }

    /// Defines the `default` NAT network, autostarted, at the daemon's first start when no network
    /// exists (as libvirt's packaging does at installation): `192.168.122.0/24` unless the host
    /// already uses it, else the next free /24. A marker in the definitions' directory records that
    /// the first start is past, so a user who undefines `default` does not get it back.
    func createDefaultNetworkIfNone() async {
        let marker = store.directory + "/.default-network-offered"
        guard !FileManager.default.fileExists(atPath: marker) else { return }
        defer { _ = FileManager.default.createFile(atPath: marker, contents: Data()) }
        guard registry.all().isEmpty else { return }
        let used = (try? await NetworkWork.run { () throws(NetworkError) in try Self.hostIPv4Networks() }) ?? []
        var third = 122
        while third < 255 && used.contains(where: { IPAddress("192.168.\(third).1")!.sameNetwork(as: $0.address, prefix: min(24, $0.prefix)) }) { third += 1 }
        guard third < 255 else {
            logger.error("no free 192.168.x.0/24 subnet for the default network")
            return
        }
        let xml = """
            <network>
              <name>default</name>
              <forward mode='nat'/>
              <bridge name='virbr0' stp='on' delay='0'/>
              <ip address='192.168.\(third).1' netmask='255.255.255.0'>
                <dhcp>
                  <range start='192.168.\(third).2' end='192.168.\(third).254'/>
                </dhcp>
              </ip>
            </network>
            """
        do throws(RemoteError) {
            let handle = try await define(xml: NetworkDeviceNames.defaultNetworkXML(xml, bridgeFree: !NetworkHost.deviceExists("virbr0")), flags: 0)
            try await setAutostart(handle, true)
            try await start(handle)
            logger.info("created the default network", metadata: ["subnet": "192.168.\(third).0/24"])
        } catch {
            logger.error("could not create the default network", metadata: ["error": "\(error.message ?? "")"])
        }
    }

    /// The IPv4 networks the host's interfaces and routes use (`ip -4 -o addr`, `ip -4 route`).
    static func hostIPv4Networks() throws(NetworkError) -> [(address: IPAddress, prefix: Int)] {
        var networks: [(IPAddress, Int)] = []
        let text = try NetworkHost.run(NetworkHost.ipTool, ["-4", "-o", "addr", "show"]) + "\n" + (try NetworkHost.run(NetworkHost.ipTool, ["-4", "route", "show"]))
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) where word.contains("/") {
            let parts = word.split(separator: "/")
            guard parts.count == 2, let address = IPAddress(String(parts[0])), address.family == .ipv4, let prefix = Int(parts[1]), (1...32).contains(prefix) else { continue }
            networks.append((address, prefix))
        }
        return networks
    }
}

/// Names of host network devices the driver chooses.
enum NetworkDeviceNames {
    /// The default network's XML, with the `virbr%d` template instead of `virbr0` when a device
    /// already has that name (a libvirtd on the same host).
    static func defaultNetworkXML(_ xml: String, bridgeFree: Bool) -> String {
        bridgeFree ? xml : xml.replacingOccurrences(of: "name='virbr0'", with: "name='virbr%d'")
    }
}

import Logging
import CorralNetwork
import CorralProtocol
import Foundation

extension NetworkDriver {
    /// `virNetworkUpdate` flags: `VIR_NETWORK_UPDATE_AFFECT_LIVE` and `_CONFIG` (0 = current).
    struct UpdateImpact: OptionSet, Sendable {
        let rawValue: UInt32
        static let live = UpdateImpact(rawValue: 1)
        static let config = UpdateImpact(rawValue: 2)
    }

    /// `virNetworkUpdate`: one edit to the running and/or stored definition; a running network's
    /// dnsmasq restarts with the new files.
    func update(_ handle: RemoteNetwork, command: UInt32, section: UInt32, parentIndex: Int32, xml: String, flags: UInt32) async throws(RemoteError) {
        try DomainProcedures.checkFlags(flags, allowed: 3, domain: .network, function: "networkUpdate")
        try await withNetworkJob(handle, "networkUpdate", .any) { record throws(RemoteError) in
            var impact = UpdateImpact(rawValue: flags)
            if impact.isEmpty { impact = record.isActive ? .live : .config }
            if impact.contains(.config) && !record.isPersistent {
                throw RemoteError(code: .operationInvalid, domain: .network, detail: "cannot change persistent config of a transient network")
            }
            if impact.contains(.live) && !record.isActive {
                throw RemoteError(code: .operationInvalid, domain: .network, detail: "network '\(record.definition.name)' is not active")
            }
            var live = record.definition, persistent = record.inactiveDefinition
            do throws(NetworkError) {
                if impact.contains(.live) { try NetworkUpdate.apply(to: &live, command: command, section: section, parentIndex: parentIndex, xml: xml) }
                if impact.contains(.config) {
                    try NetworkUpdate.apply(to: &persistent, command: command, section: section, parentIndex: parentIndex, xml: xml)
                }
            } catch {
                throw RemoteError(error)
            }
            let name = record.definition.name, store = self.store, liveStore = self.liveStore
            if impact.contains(.config) {
                let text = NetworkXMLFormatter.format(persistent)
                try await NetworkWork.run { () throws(NetworkError) in
                    do throws(StoreError) { try store.write(name: name, xml: text) } catch { throw NetworkError(.operationFailed, error.message) }
                }
            }
            if impact.contains(.live) {
                let paths = dnsmasqPaths(name), configurationPath = dnsmasqConfigurationPath(name)
                let liveXML = NetworkXMLFormatter.format(live, inactive: false), updated = live
                try await NetworkWork.run { () throws(NetworkError) in
                    if updated.hasManagedBridge && DnsmasqConfiguration.isNeeded(for: updated) {
                        try Self.writeDnsmasqFiles(try DnsmasqConfiguration(updated, paths: paths), paths: paths, configurationPath: configurationPath)
                        // dnsmasq runs unprivileged and could not reread files in the daemon's
                        // private run directory: it restarts instead (leases stay in its file).
                        NetworkHost.stopDnsmasq(pidFile: paths.pidFile)
                        _ = try NetworkHost.startDnsmasq(configurationPath: configurationPath, pidFile: paths.pidFile)
                    }
                    try Self.writeLive(liveStore, name, liveXML)
                }
            }
            registry.update(name) { record in
                if impact.contains(.live) { record.definition = live }
                if impact.contains(.config) {
                    record.assignPersistent(persistent)
                }
            }
        }
    }

    /// `virNetworkGetDHCPLeases`: dnsmasq's current leases, optionally of one MAC, expired ones left out.
    func leases(_ handle: RemoteNetwork, mac: String?) async throws(RemoteError) -> [DHCPLease] {
        let record = try registry.network(for: handle)
        guard record.isActive else {
            throw RemoteError(code: .operationInvalid, domain: .network, detail: "network '\(record.definition.name)' is not active")
        }
        let definition = record.definition, path = dnsmasqPaths(definition.name).leaseFile
        let text = (try? await NetworkWork.run { () throws(NetworkError) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }) ?? ""
        let now = Int64(Date().timeIntervalSince1970)
        let wanted = mac.flatMap { MACAddress($0) }
        return DHCPLease.parseLeaseFile(text, interface: definition.bridge.name ?? "") { address in
            let ip = definition.ips.first { ip in
                guard ip.address.family == address.family, let prefix = ip.effectivePrefix else { return false }
                return ip.address.sameNetwork(as: address, prefix: prefix)
            }
            return UInt32(ip?.effectivePrefix ?? 0)
        }.filter { lease in
            (lease.expiry == 0 || lease.expiry > now) && (mac == nil || lease.mac.flatMap { MACAddress($0) } == wanted)
        }
    }
}

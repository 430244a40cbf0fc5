import CorralClient
import CorralProtocol
import Foundation
import POSIXSupport

/// Virtual networks: `net-start` until a DHCP client on the new bridge has its lease, and 20
/// guests on one NAT network started at once, corrald against libvirtd in the same run.
///
/// corrald runs in a network namespace of its own (its bridge, dnsmasq and nftables table stay
/// there); libvirtd's network driver works on the host, with a private subnet and no traffic
/// beyond its own bridge. The DHCP client is busybox's `udhcpc` in a third namespace, on a veth
/// pair whose other end joins the network's bridge once it exists.
enum NetworkBenchmark {
    struct Target {
        var label: String
        var uri: String
        /// The namespace the daemon's networks live in (`nil`: the host's).
        var namespace: String?
        var subnet: Int
        var bridge: String
    }

    static func networkXML(_ target: Target, stp: Bool = true) -> String {
        """
        <network>
          <name>corral-bench-net</name>
          <forward mode='nat'/>
          <bridge name='\(target.bridge)' stp='\(stp ? "on" : "off")' delay='0'/>
          <ip address='10.213.\(target.subnet).1' netmask='255.255.255.0'>
            <dhcp><range start='10.213.\(target.subnet).2' end='10.213.\(target.subnet).254'/></dhcp>
          </ip>
        </network>
        """
    }

    static func guestXML(_ name: String, index: Int) -> String {
        """
        <domain type='\(StartBenchmark.kvm ? "kvm" : "qemu")'>
          <name>\(name)</name>
          <memory unit='MiB'>128</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='q35'>hvm</type></os>
          <devices>
            <interface type='network'><source network='corral-bench-net'/><mac address='52:54:00:be:00:\(String(format: "%02x", index))'/><model type='virtio'/></interface>
            <memballoon model='none'/>
          </devices>
        </domain>
        """
    }

    static func ip(_ arguments: [String], in namespace: String? = nil) throws {
        let command = namespace.map { ["netns", "exec", $0, "/usr/sbin/ip"] + arguments } ?? arguments
        _ = try BenchLibvirtd.shell(["/usr/sbin/ip"] + command)
    }

    /// `net-start` until the DHCP client holds a lease, `runs` times; returns (whole, start call) durations.
    static func leaseTimes(_ target: Target, client: String, runs: Int, stp: Bool) async throws -> [(Double, Double)] {
        try await CorralConnection.withConnection(to: target.uri) { connection in
            await removeLeftover(connection)
            let network = try await connection.call(Remote.NetworkDefineXml.self, .init(xml: networkXML(target, stp: stp))).net
            do {
                let times = try await timeLeases(connection, network: network, target: target, client: client, runs: runs)
                _ = try? await connection.call(Remote.NetworkUndefine.self, .init(net: network))
                return times
            } catch {
                _ = try? await connection.call(Remote.NetworkDestroy.self, .init(net: network))
                _ = try? await connection.call(Remote.NetworkUndefine.self, .init(net: network))
                throw error
            }
        }
    }

    /// A network of this benchmark that an interrupted run left behind.
    static func removeLeftover(_ connection: CorralConnection) async {
        guard let old = try? await connection.call(Remote.NetworkLookupByName.self, .init(name: "corral-bench-net")).net else { return }
        _ = try? await connection.call(Remote.NetworkDestroy.self, .init(net: old))
        _ = try? await connection.call(Remote.NetworkUndefine.self, .init(net: old))
    }

    static func timeLeases(
        _ connection: CorralConnection, network: RemoteNetwork, target: Target, client: String, runs: Int
    ) async throws -> [(Double, Double)] {
        do {
            let hostEnd = "cbh\(target.subnet)", clientEnd = "cbc\(target.subnet)"
            try ip(["link", "add", clientEnd, "netns", client, "type", "veth", "peer", "name", hostEnd] + (target.namespace.map { ["netns", $0] } ?? []))
            defer { try? ip(["link", "del", clientEnd], in: client) }
            try ip(["link", "set", clientEnd, "up"], in: client)
            var times: [(Double, Double)] = []
            for _ in 0..<runs {
                let t0 = ContinuousClock.now
                _ = try await connection.call(Remote.NetworkCreate.self, .init(net: network))
                let started = (ContinuousClock.now - t0).seconds
                try ip(["link", "set", hostEnd, "master", target.bridge, "up"], in: target.namespace)
                let lease = try ChildProcess.run(
                    "/usr/sbin/ip", ["netns", "exec", client, "/usr/bin/busybox", "udhcpc", "-i", clientEnd, "-n", "-q", "-f", "-s", "/bin/true", "-t", "20", "-T", "1"],
                    timeout: 60)
                guard lease.status == 0 else { throw BenchError("\(target.label): no DHCP lease: \(lease.standardError)") }
                times.append(((ContinuousClock.now - t0).seconds, started))
                _ = try await connection.call(Remote.NetworkDestroy.self, .init(net: network))
            }
            return times
        }
    }

    /// 20 guests on the network started at once; returns the seconds until every start returned.
    static func manyGuests(_ target: Target, count: Int) async throws -> Double {
        let (network, handles) = try await CorralConnection.withConnection(to: target.uri) { connection in
            await removeLeftover(connection)
            let network = try await connection.call(Remote.NetworkCreateXml.self, .init(xml: networkXML(target))).net
            var handles: [DomainHandle] = []
            for i in 0..<count { handles.append(try await connection.defineDomain(xml: guestXML("corral-bench-netguest-\(i)", index: i))) }
            return (network, handles)
        }
        let t0 = ContinuousClock.now
        let uri = target.uri
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for handle in handles {
                    group.addTask { try await CorralConnection.withConnection(to: uri) { _ = try await $0.call(Remote.DomainCreate.self, .init(dom: handle)) } }
                }
                try await group.waitForAll()
            }
        } catch {
            await cleanUp(uri, handles, network: network)
            throw error
        }
        let total = (ContinuousClock.now - t0).seconds
        await cleanUp(uri, handles, network: network)
        return total
    }

    static func cleanUp(_ uri: String, _ handles: [DomainHandle], network: RemoteNetwork) async {
        try? await CorralConnection.withConnection(to: uri) { connection in
            for handle in handles {
                try? await connection.destroyDomain(handle)
                try? await connection.undefineDomain(handle)
            }
            _ = try? await connection.call(Remote.NetworkDestroy.self, .init(net: network))
        }
    }

    static func run(corrald binary: String, libvirtd: BenchLibvirtd?, runs: Int) async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/busybox") else {
            print("Networks: busybox (udhcpc) is missing; Scripts/install-dependencies.sh installs it")
            return
        }
        let namespace = "corral-bench-net-\(getpid())", client = "corral-bench-dhcp-\(getpid())"
        _ = try BenchLibvirtd.shell(["/usr/sbin/ip", "netns", "add", namespace])
        _ = try BenchLibvirtd.shell(["/usr/sbin/ip", "netns", "add", client])
        defer {
            // Whatever is left in the namespaces (dnsmasq) goes with them.
            for space in [namespace, client] {
                for pid in ((try? BenchLibvirtd.shell(["/usr/sbin/ip", "netns", "pids", space])) ?? "").split(separator: "\n") {
                    if let pid = Int32(pid) { kill(pid, SIGKILL) }
                }
                _ = try? BenchLibvirtd.shell(["/usr/sbin/ip", "netns", "del", space])
            }
        }
        let daemon = try BenchDaemon(binary: binary, namespace: namespace)
        defer { daemon.stop() }
        let ours = Target(label: "corrald", uri: daemon.uri, namespace: namespace, subnet: 1, bridge: "cbench1")
        print("Networks: a NAT network with DHCP (10.213.x.0/24); median of \(runs); the client is known to dnsmasq after the first run")
        let theirsTarget = Target(label: "libvirtd", uri: libvirtd?.uri ?? "", namespace: nil, subnet: 2, bridge: "cbench2")
        var line = ""
        // With STP (libvirt's default) a new bridge port listens and learns for the kernel's
        // minimum forward delay (2 s each) before it forwards; without it the daemons' own work shows.
        for stp in [false, true] {
            let mine = try await leaseTimes(ours, client: client, runs: runs, stp: stp)
            let whole = StartBenchmark.median(mine.map(\.0)), start = StartBenchmark.median(mine.map(\.1))
            line = String(format: "  stp=%@  corrald  net-start → a DHCP client's lease: %7.1f ms (the NETWORK_CREATE call %.1f ms)", stp ? "on " : "off", whole * 1000, start * 1000)
            if libvirtd != nil {
                do {
                    let theirs = try await leaseTimes(theirsTarget, client: client, runs: runs, stp: stp)
                    let value = StartBenchmark.median(theirs.map(\.0))
                    line += String(format: "\n  stp=%@  libvirtd net-start → a DHCP client's lease: %7.1f ms (the NETWORK_CREATE call %.1f ms)   corrald is %.2fx faster (goal ≥ 2x)",
                                   stp ? "on " : "off", value * 1000, StartBenchmark.median(theirs.map(\.1)) * 1000, value / whole)
                } catch {
                    line += "\n  libvirtd could not run the network: \(error)"
                }
            }
            print(line)
        }
        let count = 20
        let ourMany = try await manyGuests(ours, count: count)
        line = String(format: "  %d guests on the network started at once: corrald %.2f s", count, ourMany)
        if libvirtd != nil {
            do {
                let theirMany = try await manyGuests(theirsTarget, count: count)
                line += String(format: ", libvirtd %.2f s   corrald is %.2fx faster (goal ≥ 2x)", theirMany, theirMany / ourMany)
            } catch {
                line += "; libvirtd could not start them: \(error)"
            }
        }
        print(line)
    }
}

import CorralClient
import CorralProtocol
import Foundation

/// `CONNECT_GET_ALL_DOMAIN_STATS` over many running guests (every group, as `virsh domstats`
/// and monitoring exporters ask), corrald against libvirtd, with the same client and guests.
/// The guests run paused: the call reads QEMU and `/proc` either way, and paused guests leave
/// the two cores to the daemons.
enum DomainStatsBenchmark {
    static func xml(_ name: String, disk: String) -> String {
        """
        <domain type='qemu'>
          <name>\(name)</name>
          <memory unit='MiB'>128</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='q35'>hvm</type></os>
          <devices>
            <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='\(disk)'/><target dev='vda' bus='virtio'/></disk>
            <interface type='user'><model type='virtio'/></interface>
          </devices>
        </domain>
        """
    }

    static func name(_ index: Int) -> String { "corral-bench-stats-\(index)" }

    /// Defines and starts (paused) `count` guests; returns their handles.
    static func startGuests(uri: String, count: Int, directory: String) async throws -> [DomainHandle] {
        try await CorralConnection.withConnection(to: uri) { connection in
            var handles: [DomainHandle] = []
            for index in 0..<count {
                let disk = directory + "/\(index).img"
                FileManager.default.createFile(atPath: disk, contents: nil, attributes: [.posixPermissions: 0o666])
                truncate(disk, 64 << 20)
                let handle = try await connection.defineDomain(xml: xml(name(index), disk: disk))
                _ = try await connection.call(Remote.DomainCreateWithFlags.self, .init(dom: handle, flags: 1))
                handles.append(handle)
            }
            return handles
        }
    }

    static func removeGuests(uri: String, count: Int) async {
        _ = try? await CorralConnection.withConnection(to: uri) { connection in
            for index in 0..<count {
                guard let handle = try? await connection.lookupDomain(name(index), byID: false) else { continue }
                _ = try? await connection.call(Remote.DomainDestroy.self, .init(dom: handle))
                try? await connection.undefineDomain(handle)
            }
        }
    }

    /// Calls per second and the parameters of one call.
    static func measure(uri: String, seconds: Double) async throws -> (rate: Double, p50: Double, parameters: Int, records: Int) {
        try await CorralConnection.withConnection(to: uri) { connection in
            let arguments = Remote.ConnectGetAllDomainStats.Arguments(doms: [], stats: 0, flags: 1)  // every group, active domains
            let first = try await connection.call(Remote.ConnectGetAllDomainStats.self, arguments)
            var times: [Double] = []
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            repeat {
                let t0 = ContinuousClock.now
                _ = try await connection.call(Remote.ConnectGetAllDomainStats.self, arguments)
                times.append((ContinuousClock.now - t0).seconds)
            } while ContinuousClock.now < deadline
            times.sort()
            return (Double(times.count) / times.reduce(0, +), times[times.count / 2], first.retStats.reduce(0) { $0 + $1.params.count }, first.retStats.count)
        }
    }

    static func run(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, guests: Int, seconds: Double, directory: String) async throws {
        print("Domain statistics: CONNECT_GET_ALL_DOMAIN_STATS, every group, \(guests) running guests (paused), one connection, \(seconds) s")
        let disks = directory + "/corral-bench-stats-\(getpid())"
        try FileManager.default.createDirectory(atPath: disks, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: disks) }
        _ = try await startGuests(uri: daemon.uri, count: guests, directory: disks)
        let ours = try await measure(uri: daemon.uri, seconds: seconds)
        await removeGuests(uri: daemon.uri, count: guests)
        print(String(format: "  corrald:  %8.1f calls/s   p50 %7.2f ms   (%d records, %d parameters)", ours.rate, ours.p50 * 1000, ours.records, ours.parameters))
        guard let libvirtd else { return }
        do {
            _ = try await startGuests(uri: libvirtd.uri, count: guests, directory: disks)
            let theirs = try await measure(uri: libvirtd.uri, seconds: seconds)
            await removeGuests(uri: libvirtd.uri, count: guests)
            print(String(format: "  libvirtd: %8.1f calls/s   p50 %7.2f ms   (%d records, %d parameters)", theirs.rate, theirs.p50 * 1000, theirs.records, theirs.parameters))
            print(String(format: "  ratio corrald/libvirtd: %.2fx (goal ≥ 5x)", ours.rate / theirs.rate))
        } catch {
            await removeGuests(uri: libvirtd.uri, count: guests)
            print("  libvirtd could not run the guests: \(error)")
        }
    }
}

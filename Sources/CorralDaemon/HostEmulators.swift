import Foundation
import Logging
import QEMUProbe
import Synchronization

/// The emulators the daemon runs guests on: the configured one (64-bit x86 guests) and, where
/// the host has it, the 32-bit one (`qemu-system-i386`) that libvirt's capabilities name for
/// `arch='i686'` guests. Each is probed once, both at the same time.
struct HostEmulators: Sendable {
    /// The configured emulator (``DaemonConfiguration/emulatorPath``).
    var primary: EmulatorCapabilities
    /// The emulator of 32-bit guests, when the host has one that answered the probe.
    var i686: EmulatorCapabilities?

    /// The emulator that runs a guest whose `<emulator>` is `path`: the 32-bit one when it is
    /// named, else the configured one (whose facts also serve any other binary a definition
    /// names, as before).
    func serving(_ path: String?) -> EmulatorCapabilities {
        if let i686, path == i686.path { return i686 }
        return primary
    }

    /// Probes the configured emulator and, when there is one, the 32-bit one, concurrently
    /// (each starts QEMU once; a cached probe starts none).
    static func probe(configuration: DaemonConfiguration, logger: Logger) -> HostEmulators {
        let cache = configuration.stateDirectory + "/cache"
        let paths = [configuration.emulatorPath] + (configuration.i686EmulatorPath.map { [$0] } ?? [])
        let results = Mutex<[Int: EmulatorCapabilities]>([:])
        DispatchQueue.concurrentPerform(iterations: paths.count) { index in
            let probed = EmulatorProbe.probe(path: paths[index], cacheDirectory: cache, logger: logger)
            results.withLock { $0[index] = probed }
        }
        let probed = results.withLock { $0 }
        let i686 = probed[1].flatMap { $0.version == 0 ? nil : $0 }
        return HostEmulators(primary: probed[0] ?? .unknown(path: configuration.emulatorPath), i686: i686)
    }
}

import CorralProtocol
import DomainXML

/// libvirt's domain states (`virDomainState`).
public enum DomainState: Int32, Sendable {
    case noState = 0, running, blocked, paused, shutdown, shutoff, crashed, pmSuspended
}

/// One domain the daemon knows: its definition and its runtime state.
///
/// Only the normalised XML text and the typed definition are kept (not the parsed tree), which
/// keeps a defined domain to a few KiB.
struct DomainRecord: Sendable {
    var uuid: RemoteUUID
    var name: String
    /// The persistent (inactive) definition as `dumpxml --inactive` returns it.
    var xml: String
    var definition: DomainDefinition
    var unmodelled: [String]
    var id: Int32 = -1
    var status = DomainStatus.shutoff(.unknown)
    var state: DomainState { status.state }
    var reason: Int32 { status.reasonCode }
    var persistent = true
    var autostart = false
    /// Taints of the current run (cleared when it stops).
    var taints: [String] = []
    /// The live XML of the current run.
    var liveXML: String?
    /// The QEMU process of the current run.
    var pid: Int32 = 0
    /// Whether the persistent definition was replaced while the domain ran (it applies at the
    /// next start; `virDomainIsUpdated`).
    var updated = false

    var handle: RemoteDomain { RemoteDomain(name: name, uuid: uuid, id: id) }
    var isActive: Bool { id >= 0 }
}

import CorralProtocol
import DomainXML

/// libvirt's domain states (`virDomainState`).
public enum DomainState: Int32, Sendable {
    case noState = 0, running, blocked, paused, shutdown, shutoff, crashed, pmSuspended
}

/// One domain, as libvirt's `virDomainObj`: its definitions and, while it runs, its guest. This
/// is the one source of truth for a domain. ``DomainRegistry`` holds it; every change takes the
/// domain's job (``DomainJobs``) and goes through the registry, so readers always see a whole
/// domain, never a definition from one moment and a runtime from another.
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
    var persistent = true
    var autostart = false
    /// Whether the persistent definition was replaced while the domain ran (it applies at the
    /// next start; `virDomainIsUpdated`).
    var updated = false
    /// A managed save image waits for the next start (`virsh managedsave`).
    var hasManagedSave = false
    /// The domain's snapshots (stored by ``SnapshotStore``).
    var snapshots = SnapshotTree()
    /// Why the last run ended: the reason reported while the domain is shut off.
    var shutoffReason = DomainStatus.ShutoffReason.unknown
    /// The running guest (QEMU, its monitors, its lifecycle); `nil` while shut off.
    var runtime: GuestRuntime?

    init(uuid: RemoteUUID, name: String, xml: String, definition: DomainDefinition, unmodelled: [String], autostart: Bool = false) {
        self.uuid = uuid
        self.name = name
        self.xml = xml
        self.definition = definition
        self.unmodelled = unmodelled
        self.autostart = autostart
    }

    var status: DomainStatus { runtime?.lifecycle.status ?? .shutoff(shutoffReason) }
    var state: DomainState { status.state }
    var reason: Int32 { status.reasonCode }
    var id: Int32 { runtime?.id ?? -1 }
    /// The QEMU process of the current run (0 while shut off).
    var pid: Int32 { runtime?.pid ?? 0 }
    /// Taints of the current run.
    var taints: [String] { runtime?.taints ?? [] }
    /// The live XML of the current run.
    var liveXML: String? { runtime?.liveXML }

    var handle: RemoteDomain { RemoteDomain(name: name, uuid: uuid, id: id) }
    var isActive: Bool { runtime != nil }
}

import CorralProtocol
import DomainXML
import Glibc
import POSIXSupport
import QMP
import QEMUCommandLine
import XMLTree

/// What a domain has while its QEMU runs: the process, the daemon's monitor session, the
/// passthrough session clients share, its lifecycle state machine and its runtime files.
struct GuestRuntime: Sendable {
    var id: Int32
    var pid: Int32
    /// The QEMU process, watched by the one reaper (signals go through its pidfd); `nil` only for
    /// a reattached guest whose pidfd could not be opened.
    var process: WatchedProcess?
    /// The daemon's own monitor session.
    var qmp: QMPClient
    /// The sessions on the guest's dedicated passthrough monitors (never the daemon's own), one
    /// slot per monitor QEMU has, each opened on the first call of a client pinned to it. Read
    /// from event loops by the passthrough fast path.
    var passthroughSessions: [QMPClient?]
    /// `run-dir/domains/NAME`.
    var runDirectory: String
    var lifecycle: GuestLifecycle
    /// The connection that started it with autodestroy.
    var autodestroyConnection: UInt64?
    /// The socket of the guest-agent channel, when the guest has one.
    var agentSocket: String?
    var taints: [String]
    var liveXML: String
    /// The QEMU names of its devices (and the pseudo-terminals QEMU gave its `pty` ones).
    var devices: GuestDevices
    /// The host thread of each vCPU, in vCPU order (learnt at start and after each vCPU change).
    var vcpuThreads: [Int32]?
    /// How many vCPUs are plugged in.
    var vcpuCount: Int
    /// How many may be (the `<vcpu>` the guest started with).
    var vcpuMaximum: Int
    /// Its control group, when the daemon could make one.
    var cgroup: GuestCgroup?
    /// The memory the balloon leaves the guest, in KiB, as QEMU's `BALLOON_CHANGE` events say
    /// (`nil`: unknown, ask QEMU).
    var balloonKiB: UInt64?
    /// How often QEMU asks the balloon driver for statistics, in seconds (`nil`: unknown).
    var balloonStatisticsPeriod: Int32?
    /// The host counters of `<perf>` on its QEMU process.
    var perfCounters: PerfCounters?
    /// A variable `<clock>`'s adjustment from UTC when QEMU started (libvirt's `adjustment0`):
    /// QEMU's `RTC_CHANGE` offsets count from it.
    var clockAdjustmentAtStart: Int64?
    /// The port chosen at start for a VNC WebSocket listener asked for with `websocket='-1'`
    /// (the live XML names it; saved and migrated XML say -1 again).
    var chosenWebsocketPort: Int?
    /// The backing layers (and chain ends) found in image headers, by disk target: the live
    /// XML lists them, saved and migrated XML do not.
    var detectedChains: [String: BackingChainCheck.Remembered] = [:]
    /// The `<graphics>` (by position) whose listen address the daemon filled in at start (its
    /// default, 127.0.0.1; libvirt's `fromConfig`): the live XML names it, saved and migrated
    /// XML do not.
    var defaultListenGraphics: Set<Int> = []
    /// The `<cpu>` as the definition asked for it, when the live XML says what QEMU made of it
    /// instead (libvirt's `origCPU`): saved and migrated XML carry the one asked for.
    var askedCPU: XMLElement?

    /// What this run added to the document, which saved, migrated and snapshot XML leave out.
    var runAdditions: LiveDomainXML.RunAdditions {
        LiveDomainXML.RunAdditions(
            runDirectory: runDirectory, chosenWebsocket: chosenWebsocketPort,
            detectedChains: detectedChains, defaultListenGraphics: defaultListenGraphics, askedCPU: askedCPU)
    }
    /// QEMU has exited and its clean-up is under way.
    var exiting = false

    var qmpSocket: String { runDirectory + "/qmp.sock" }
    /// The first passthrough monitor's socket.
    var passthroughSocket: String { PassthroughMonitor.socketPath(runDirectory: runDirectory, index: 0) }

    /// The passthrough monitor a client connection uses: always the same for one connection, so
    /// its commands stay in order; consecutive connections on different monitors.
    static func passthroughMonitor(connectionID: UInt64, monitors: Int) -> Int {
        monitors > 1 ? Int(connectionID % UInt64(monitors)) : 0
    }

    /// How many passthrough monitors a guest started earlier has: the sockets in its run
    /// directory (a guest started before the pool existed has one).
    static func existingPassthroughMonitors(runDirectory: String) -> Int {
        var count = 1
        while count < QEMUNamespace.passthroughMonitorRange.upperBound,
            access(PassthroughMonitor.socketPath(runDirectory: runDirectory, index: count), F_OK) == 0
        {
            count += 1
        }
        return count
    }
}

/// One passthrough monitor of one guest.
struct PassthroughMonitorKey: Hashable, Sendable {
    var domain: RemoteUUID
    var monitor: Int
}

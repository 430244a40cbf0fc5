import POSIXSupport
import QMP
import QEMUCommandLine

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
    /// The dedicated passthrough monitor session, opened on the first client call; never the
    /// daemon's own. Read from event loops by the passthrough fast path.
    var passthrough: QMPClient?
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
    /// QEMU has exited and its clean-up is under way.
    var exiting = false

    var qmpSocket: String { runDirectory + "/qmp.sock" }
    var passthroughSocket: String { runDirectory + "/passthrough.sock" }
}

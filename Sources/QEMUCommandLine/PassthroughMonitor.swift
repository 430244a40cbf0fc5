/// A guest's dedicated passthrough monitors (never the daemon's own): where their sockets are
/// and what QEMU calls them. Monitor 0 keeps the names a single monitor always had.
public enum PassthroughMonitor {
    /// The socket of monitor `index` in the guest's run directory: `passthrough.sock`, then
    /// `passthrough-1.sock`, `passthrough-2.sock`, ….
    public static func socketPath(runDirectory: String, index: Int) -> String {
        index == 0 ? runDirectory + "/passthrough.sock" : runDirectory + "/passthrough-\(index).sock"
    }

    /// The id of monitor `index`'s `-chardev`.
    static func chardevID(_ index: Int) -> String { index == 0 ? "charpassthrough" : "charpassthrough\(index)" }

    /// The id of monitor `index`'s `-mon`.
    static func monitorID(_ index: Int) -> String { index == 0 ? "passthrough" : "passthrough\(index)" }
}

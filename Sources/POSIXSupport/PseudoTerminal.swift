import CProcessDescriptors
import Glibc

/// A new pseudo-terminal pair, for code that stands in for a serial line (tests, and a host's
/// serial port in the domain XML corpus).
public enum PseudoTerminal {
    /// Opens one: the controlling side's descriptor (close-on-exec; the caller closes it) and
    /// the terminal side's path (`/dev/pts/N`).
    public static func open() throws(SystemError) -> (controller: Int32, path: String) {
        var path = [CChar](repeating: 0, count: 64)
        let controller = corral_open_pseudo_terminal(&path, path.count)
        guard controller >= 0 else { throw SystemError("cannot open a pseudo-terminal: \(String(cString: strerror(errno)))") }
        return (controller, String(cString: path))
    }
}

import Foundation
import Synchronization

/// A progress bar on standard error, drawn only when it is a terminal (never in pipes or logs):
/// `[#######.......]  48%  123.4 MiB/s`, redrawn at most ten times a second. With `lines`, a
/// standard error that is not a terminal gets a plain line at each tenth instead
/// (`save: 40%`), as `virsh … --verbose` prints its progress.
final class ProgressBar: Sendable {
    private let total: UInt64
    private let label: String
    private let enabled: Bool
    private let lines: Bool
    private let started = Date()
    private let lastDrawn = Mutex(Date.distantPast)
    private let lastTenth = Mutex(-1)

    init(label: String, total: UInt64, enabled: Bool = isatty(STDERR_FILENO) != 0, lines: Bool = false) {
        self.label = label
        self.total = total
        self.enabled = enabled
        self.lines = lines && !enabled
    }

    /// Shows `done` bytes of the total.
    func update(_ done: UInt64, force: Bool = false) {
        if lines {
            let tenth = total == 0 ? 10 : Int(min(1, Double(done) / Double(total)) * 10)
            let changed = lastTenth.withLock { last in
                guard tenth > last else { return false }
                last = tenth
                return true
            }
            if changed { FileHandleOutput.standardError("\(label): \(tenth * 10)%\n") }
            return
        }
        guard enabled else { return }
        let now = Date()
        let draw = lastDrawn.withLock { last in
            guard force || now.timeIntervalSince(last) >= 0.1 else { return false }
            last = now
            return true
        }
        guard draw else { return }
        FileHandleOutput.standardError("\r" + Self.line(label: label, done: done, total: total, seconds: now.timeIntervalSince(started)))
    }

    /// Draws the final state and ends the line.
    func finish(_ done: UInt64) {
        if lines {
            update(total)
            return
        }
        guard enabled else { return }
        update(done, force: true)
        FileHandleOutput.standardError("\n")
    }

    /// The text of the bar (pure, for tests).
    static func line(label: String, done: UInt64, total: UInt64, seconds: Double, width: Int = 30) -> String {
        let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
        let filled = Int(fraction * Double(width))
        let rate = seconds > 0 ? Double(done) / seconds / 1_048_576 : 0
        let percent = String(format: "%3d%%", Int(fraction * 100))
        return "\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(percent) "
            + String(format: "%.1f MiB/s", rate)
    }
}

import Foundation
import POSIXSupport
import Testing

@Suite("One reaper for every child")
struct ProcessReaperTests {
    @Test("a child's exit status is reported and the child is reaped (no zombie)")
    func exitStatus() async throws {
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "exit 3"], standardOutput: .null, standardError: .null)
        let watched = try ProcessReaper.shared.watch(child.pid, isChild: true)
        #expect(await watched.waitForExit(timeout: .seconds(10)))
        #expect(watched.termination == .exited(3))
        #expect(kill(child.pid, 0) != 0 && errno == ESRCH)
    }

    @Test("signals go through the pidfd; a running process is not reported as ended")
    func signalAndTimeout() async throws {
        // Long enough to outlive a test process whose other tests keep its threads busy for a
        // while (a CI run once saw the 100 ms wait below end after 30 s).
        let child = try ChildProcess.spawn("/bin/sleep", ["600"], standardOutput: .null, standardError: .null)
        let watched = try ProcessReaper.shared.watch(child.pid, isChild: true)
        #expect(await watched.waitForExit(timeout: .milliseconds(100)) == false)
        #expect(!watched.hasExited)
        #expect(watched.signal(SIGTERM))
        #expect(await watched.waitForExit(timeout: .seconds(10)))
        #expect(watched.termination == .signalled(SIGTERM))
        #expect(watched.signal(SIGTERM) == false)
    }

    @Test("forty children are watched by one thread, and each is reaped")
    func manyChildrenOneThread() async throws {
        var watched: [WatchedProcess] = []
        for index in 0..<40 {
            let child = try ChildProcess.spawn("/bin/sh", ["-c", "sleep 0.\(index % 5 + 1); exit \(index % 7)"], standardOutput: .null, standardError: .null)
            watched.append(try ProcessReaper.shared.watch(child.pid, isChild: true))
        }
        let reaperThreads = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?.hasPrefix("corral-reaper") == true
        }
        #expect(reaperThreads.count == 1)
        for (index, process) in watched.enumerated() {
            #expect(await process.waitForExit(timeout: .seconds(20)))
            #expect(process.termination == .exited(Int32(index % 7)))
        }
    }

    @Test("watching a pid that does not exist is an error, not a crash")
    func missingProcess() {
        #expect(throws: SystemError.self) { try ProcessReaper.shared.watch(Int32.max - 1, isChild: true) }
    }
}

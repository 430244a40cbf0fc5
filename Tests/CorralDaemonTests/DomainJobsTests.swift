@testable import CorralDaemon
import CorralProtocol
import NIOCore
import Synchronization
import Testing

@Suite("Domain jobs")
struct DomainJobsTests {
    @Test("changes to one domain run one at a time, in the order they asked; other domains do not wait")
    func serialised() async throws {
        let jobs = DomainJobs(timeout: .seconds(10))
        let log = EventLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<5 {
                group.addTask {
                    try await jobs.run("a", "op\(i)") { () async throws(RemoteError) in
                        log.append("start \(i)")
                        try? await Task.sleep(for: .milliseconds(20))
                        log.append("end \(i)")
                    }
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            group.addTask {
                try await jobs.run("b", "other") { () async throws(RemoteError) in log.append("b") }
            }
            try await group.waitForAll()
        }
        let entries = log.entries.filter { $0 != "b" }
        #expect(entries == (0..<5).flatMap { ["start \($0)", "end \($0)"] })
        #expect(log.entries.firstIndex(of: "b")! < 9, "another domain's job did not wait for these")
        #expect(!jobs.isBusy("a") && !jobs.isBusy("b"))
    }

    @Test("a change's remainder runs after its caller has the answer, still in the job: the next change waits for it")
    func remainderKeepsTheJob() async throws {
        // A long timeout: with the whole suite running, the remainder's task can wait seconds
        // for a thread of the shared pool.
        let jobs = DomainJobs(timeout: .seconds(120))
        let log = EventLog()
        let value = try await jobs.runLeavingRemainder("a", "remoteDispatchDomainMigrateConfirm3Params") { () async throws(RemoteError) -> (Int, DomainJobs.Remainder?) in
            log.append("body")
            return (7, {
                try? await Task.sleep(for: .milliseconds(100))
                log.append("remainder")
            })
        }
        log.append("answered")
        #expect(value == 7 && jobs.isBusy("a"))
        try await jobs.run("a", "remoteDispatchDomainCreate") { () async throws(RemoteError) in log.append("next") }
        #expect(log.entries == ["body", "answered", "remainder", "next"])
        #expect(!jobs.isBusy("a"))
        // No remainder, or a failure: the job is free at once.
        _ = try await jobs.runLeavingRemainder("a", "plain") { () async throws(RemoteError) -> (Int, DomainJobs.Remainder?) in (1, nil) }
        #expect(!jobs.isBusy("a"))
        await #expect(throws: RemoteError.self) {
            try await jobs.runLeavingRemainder("a", "failing") { () async throws(RemoteError) -> (Int, DomainJobs.Remainder?) in
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "no")
            }
        }
        #expect(!jobs.isBusy("a"))
    }

    @Test("a change that waits past the timeout fails with libvirt's error and leaves the queue intact")
    func timeout() async throws {
        let jobs = DomainJobs(timeout: .milliseconds(200))
        async let holder: Void = jobs.run("x", "remoteDispatchDomainCreate") { () async throws(RemoteError) in
            try? await Task.sleep(for: .milliseconds(800))
        }
        try await Task.sleep(for: .milliseconds(50))
        do {
            try await jobs.run("x", "remoteDispatchDomainDestroy") { () async throws(RemoteError) in }
            Issue.record("the waiter should have timed out")
        } catch {
            #expect(error.code == .operationTimeout)
            #expect(error.message == "Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainCreate)")
        }
        try await holder
        // The job is free again.
        try await jobs.run("x", "later") { () async throws(RemoteError) in }
        #expect(!jobs.isBusy("x"))
    }
}

/// What the jobs did, in order, from any task.
final class EventLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var entries: [String] { lines.withLock { $0 } }
}

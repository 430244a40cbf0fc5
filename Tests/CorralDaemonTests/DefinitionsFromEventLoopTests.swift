import CAsyncIO
@testable import CorralDaemon
import CorralProtocol
import DomainXML
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Definitions journaled by a write their event loop submits (Linux AIO), and the claims that
/// keep a define's name and UUID while it is written.
@Suite("Definitions journaled from an event loop")
struct DefinitionsFromEventLoopTests {
    static func store(_ directory: String) throws -> DefinitionStore {
        try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true, materializes: false)
    }

    static func files(_ store: DefinitionStore) -> [String: String] {
        Dictionary(uniqueKeysWithValues: store.loadAll().map { (($0.path as NSString).lastPathComponent, $0.xml ?? "") })
    }

    /// Runs `body` in a task on `group`'s loop, as the daemon runs a define.
    static func onLoop<T: Sendable>(_ group: MultiThreadedEventLoopGroup, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Task(executorPreference: EventLoopTaskExecutor(group.next())) { try await body() }.value
    }

    @Test("records written from an event loop land in order among those written on other threads; a restart replays every one")
    func recordsFromALoop() async throws {
        let directory = DefinitionJournalTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Self.store(directory)
        let direct = try #require(store.journal).segmentsUseDirectIO
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Each name rewritten many times from one side, both sides at once: a record out of
        // order would replay an older definition over a newer one.
        async let fromLoop = Self.onLoop(group) { () async throws -> Int in
            var journaledByTheLoop = 0
            for index in 0..<80 {
                let name = "loop\(index % 7)", xml = "<domain>\(name) \(index)</domain>"
                if try await store.writeFromEventLoop(name: name, xml: xml) {
                    journaledByTheLoop += 1
                } else {
                    // What the registry does then: the thread pool writes it.
                    try await Task.detached { try store.write(name: name, xml: xml) }.value
                }
            }
            return journaledByTheLoop
        }
        async let fromThreads: Void = Task.detached {
            for index in 0..<80 { try store.write(name: "pool\(index % 5)", xml: "<domain>pool\(index % 5) \(index)</domain>") }
        }.value
        let journaledByTheLoop = try await fromLoop
        try await fromThreads
        try await group.shutdownGracefully()
        // Where the segments take direct I/O (this project's ext4), the loop journals most of
        // them itself; it falls back only while a pool thread's write is under way.
        if direct {
            #expect(journaledByTheLoop > 0)
        } else {
            #expect(journaledByTheLoop == 0)
        }
        #expect(store.loadAll().isEmpty)
        var expected: [String: String] = [:]
        for index in 0..<80 {
            expected["loop\(index % 7).xml"] = "<domain>loop\(index % 7) \(index)</domain>"
            expected["pool\(index % 5).xml"] = "<domain>pool\(index % 5) \(index)</domain>"
        }
        #expect(Self.files(try Self.store(directory)) == expected)
    }

    @Test("records that come while a write from the loop is under way share the next write (group commit); each caller learns its own is durable, and a restart replays every one")
    func concurrentRecordsShareWrites() async throws {
        let directory = DefinitionJournalTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try DefinitionJournal(directory: directory, path: { directory + "/" + $0 + ".xml" }, materializes: false)
        let direct = journal.segmentsUseDirectIO
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        // 16 callers at once on one loop, each rewriting its own name 20 times, one after
        // another: the first submits; the others queue behind its write and go together.
        let fromLoop = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for caller in 0..<16 {
                tasks.addTask(executorPreference: EventLoopTaskExecutor(loop)) {
                    var journaled = 0
                    for index in 0..<20 {
                        let change = JournalChange.write(name: "d\(caller)", contents: "<domain>d\(caller) \(index)</domain>")
                        if try await journal.recordFromEventLoop(change) {
                            journaled += 1
                        } else {
                            try await Task.detached { try journal.record(change) }.value
                        }
                    }
                    return journaled
                }
            }
            return try await tasks.reduce(0, +)
        }
        try await group.shutdownGracefully()
        let (writes, records) = journal.loopWriteCounts
        #expect(records == fromLoop)
        if direct {
            #expect(fromLoop == 320)
            // Fewer writes than records: callers shared them.
            #expect(writes < records / 4)
        } else {
            #expect(fromLoop == 0 && writes == 0)
        }
        let restarted = try Self.store(directory)
        var expected: [String: String] = [:]
        for caller in 0..<16 { expected["d\(caller).xml"] = "<domain>d\(caller) 19</domain>" }
        #expect(Self.files(restarted) == expected)
    }

    @Test("off an event loop nothing is journaled that way: the caller is told to use the thread pool")
    func offALoop() async throws {
        let directory = DefinitionJournalTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Self.store(directory)
        #expect(try await store.writeFromEventLoop(name: "a", xml: "<domain>a</domain>") == false)
        #expect(Self.files(try Self.store(directory)).isEmpty)
        // And a store without a journal (networks, pools) never is.
        let plain = try DefinitionStore(directory: directory + "/plain", autostartDirectory: directory + "/plain/autostart")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        #expect(try await Self.onLoop(group) { try await plain.writeFromEventLoop(name: "a", xml: "<domain>a</domain>") } == false)
        try await group.shutdownGracefully()
    }

    @Test("after a submission held its loop too long (the disk finished the write inside it), records go to the thread pool for a pause, then from the loop again")
    func slowSubmissionPausesLoopWrites() async throws {
        let directory = DefinitionJournalTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // No submission is that quick: each write from the loop pauses the next ones.
        let journal = try DefinitionJournal(
            directory: directory, path: { directory + "/" + $0 + ".xml" }, materializes: false, longestSubmission: .zero, slowSubmissionPause: .milliseconds(500),
            requiresWaitForSlowSubmission: false)
        let direct = journal.segmentsUseDirectIO
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fromLoop = try await Self.onLoop(group) {
            var results: [Bool] = []
            for index in 0..<3 { results.append(try await journal.recordFromEventLoop(.write(name: "a", contents: "<domain>\(index)</domain>"))) }
            try await Task.sleep(for: .milliseconds(600))
            // The pause is over: one more from the loop, which pauses them again (for twice as long).
            for index in 3..<5 { results.append(try await journal.recordFromEventLoop(.write(name: "a", contents: "<domain>\(index)</domain>"))) }
            try await Task.sleep(for: .milliseconds(600))
            results.append(try await journal.recordFromEventLoop(.write(name: "a", contents: "<domain>5</domain>")))
            return results
        }
        try await group.shutdownGracefully()
        // (A filesystem without direct I/O takes none from the loop.)
        #expect(fromLoop == (direct ? [true, false, false, true, false, false] : [false, false, false, false, false, false]))
        // The ones it wrote are journaled.
        let restarted = try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true, materializes: false)
        #expect(Self.files(restarted) == (direct ? ["a.xml": "<domain>3</domain>"] : [:]))
    }

    @Test("a thread's wait inside the kernel is told apart from its running (what decides whether a long submission was the disk's)")
    func waitsAreToldApartFromRunning() {
        let beforeRunning = corral_thread_voluntary_switches()
        let clock = ContinuousClock()
        let start = clock.now
        var spins = 0
        while clock.now - start < .milliseconds(3) { spins &+= 1 }
        let afterRunning = corral_thread_voluntary_switches()
        usleep(2000)
        let afterWaiting = corral_thread_voluntary_switches()
        #expect(beforeRunning >= 0 && spins > 0)
        #expect(afterRunning == beforeRunning)
        #expect(afterWaiting > afterRunning)
    }

    static func parsed(_ name: String, _ uuid: String) throws -> ParsedDomain {
        try DomainXMLParser.parse(
            "<domain type='kvm'><name>\(name)</name><uuid>\(uuid)</uuid><memory>131072</memory><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>",
            options: DomainXMLOptions())
    }

    static let uuids = ["1b7a3a34-7d4f-4b8e-9a51-3c1f1a1e0001", "1b7a3a34-7d4f-4b8e-9a51-3c1f1a1e0002", "1b7a3a34-7d4f-4b8e-9a51-3c1f1a1e0003"]

    @Test("while a define's definition is written, its name and UUID are taken: other defines and creates are refused in libvirt's words")
    func claims() throws {
        let directory = DefinitionJournalTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = DomainRegistry(store: try Self.store(directory + "/domains"), snapshotStore: try SnapshotStore(stateDirectory: directory))
        let claim = try registry.claim(try Self.parsed("alpha", Self.uuids[0]))
        #expect(claim.isNew)
        func refusal(_ body: () throws(RemoteError) -> Void) -> String? {
            do throws(RemoteError) {
                try body()
                return nil
            } catch {
                return error.message
            }
        }
        let (beta, otherAlpha, thirdAlpha, gamma) = (
            try Self.parsed("beta", Self.uuids[0]), try Self.parsed("alpha", Self.uuids[1]), try Self.parsed("alpha", Self.uuids[2]), try Self.parsed("gamma", Self.uuids[0])
        )
        #expect(refusal { () throws(RemoteError) in _ = try registry.define(beta) } == "operation failed: domain 'alpha' is already defined with uuid \(Self.uuids[0])")
        #expect(refusal { () throws(RemoteError) in _ = try registry.define(otherAlpha) } == "operation failed: domain 'alpha' already exists with uuid \(Self.uuids[0])")
        #expect(refusal { () throws(RemoteError) in _ = try registry.addTransient(thirdAlpha) } == "operation failed: domain 'alpha' already exists with uuid \(Self.uuids[0])")
        #expect(refusal { () throws(RemoteError) in _ = try registry.addTransient(gamma) } == "operation failed: domain 'alpha' is already defined with uuid \(Self.uuids[0])")
        #expect(registry.count == 0)
        // Given up (its write failed): both are free again.
        registry.release(claim)
        #expect(try registry.define(beta).isNew)
        #expect(registry.record(name: "beta") != nil)
    }

    @Test("a define on an event loop journals the definition there and adds the record; a redefine keeps the record's runtime")
    func defineOnALoop() async throws {
        let directory = DefinitionJournalTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Self.store(directory + "/domains")
        let registry = DomainRegistry(store: store, snapshotStore: try SnapshotStore(stateDirectory: directory))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let first = try await Self.onLoop(group) { try await registry.defineFromEventLoop(try Self.parsed("alpha", Self.uuids[0])) }
        #expect(first.isNew && first.0.name == "alpha")
        registry.updateRuntime(first.0.uuid) { $0.autostart = true }
        let second = try await Self.onLoop(group) { try await registry.defineFromEventLoop(try Self.parsed("alpha", Self.uuids[0])) }
        #expect(!second.isNew)
        #expect(registry.record(name: "alpha")?.autostart == true)
        // Refused as the thread pool's define refuses.
        await #expect(throws: RemoteError.self) {
            try await Self.onLoop(group) { try await registry.defineFromEventLoop(try Self.parsed("beta", Self.uuids[0])) }
        }
        try await group.shutdownGracefully()
        let stored = Self.files(try Self.store(directory + "/domains"))
        #expect(stored.keys.sorted() == ["alpha.xml"])
        #expect(stored["alpha.xml"] == registry.record(name: "alpha")?.xml)
    }
}

@testable import CorralDaemon
import CorralProtocol
import Foundation
import Synchronization
import Testing

@Suite("Runtime file queue")
struct RuntimeFileQueueTests {
    @Test("items run one at a time, in the order queued, and flush waits for all of them")
    func orderAndFlush() async throws {
        let queue = RuntimeFileQueue()
        let log = Mutex<[Int]>([])
        let running = Atomic<Int>(0)
        let overlapped = Atomic<Bool>(false)
        for index in 0..<500 {
            queue.enqueue {
                if running.wrappingAdd(1, ordering: .relaxed).newValue > 1 { overlapped.store(true, ordering: .relaxed) }
                if index % 50 == 0 { usleep(1000) }
                log.withLock { $0.append(index) }
                running.wrappingSubtract(1, ordering: .relaxed)
            }
        }
        await queue.flush()
        #expect(log.withLock { $0 } == Array(0..<500))
        let didOverlap = overlapped.load(ordering: .relaxed)
        #expect(!didOverlap)
    }

    @Test("run returns the result or the error of its item")
    func runResults() async throws {
        let queue = RuntimeFileQueue()
        #expect(try await queue.run { 6 * 7 } == 42)
        await #expect(throws: RemoteError.self) {
            try await queue.run { () throws(RemoteError) -> Int in throw RemoteError.internalError("disk full") }
        }
    }
}

import CorralProtocol
import NIOPosix

/// Runs work that blocks (disk writes with fsync, large parses) on NIO's thread pool, so that
/// async handlers — which run on the event loops — never block one.
enum BlockingWork {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(RemoteError) -> T) async throws(RemoteError) -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive { () throws -> T in try body() }
        } catch let error as RemoteError {
            throw error
        } catch {
            throw RemoteError.internalError("\(error)")
        }
    }
}

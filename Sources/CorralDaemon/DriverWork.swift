import CorralProtocol
import NIOPosix

/// A thread pool of one driver's own for its blocking work (files, child processes), so a slow
/// tool in one driver never delays another or blocks an event loop; its typed errors become
/// libvirt's through `convert`.
final class DriverWork<Failure: Error>: Sendable {
    private let pool: NIOThreadPool
    private let domain: ErrorDomain
    private let convert: @Sendable (Failure) -> RemoteError

    init(threads: Int, domain: ErrorDomain, convert: @escaping @Sendable (Failure) -> RemoteError) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        self.domain = domain
        self.convert = convert
    }

    /// Runs `body` on the pool's threads.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(Failure) -> T) async throws(RemoteError) -> T {
        do {
            return try await pool.runIfActive { () throws -> T in try body() }
        } catch let error as Failure {
            throw convert(error)
        } catch {
            throw RemoteError.internalError("\(error)", domain: domain)
        }
    }
}

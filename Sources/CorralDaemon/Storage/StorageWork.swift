import CorralProtocol
import CorralStorage
import NIOPosix

/// Runs the storage driver's blocking work — directory scans, file creation, `qemu-img` — on a
/// thread pool of its own, so a long clone or wipe never delays the domain driver's status
/// files, which share NIO's default pool, and never blocks an event loop.
enum StorageWork {
    /// Four threads: on these 2-core hosts a few concurrent long copies already fill the disks.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    /// Runs `body` on the storage pool's threads.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(StorageError) -> T) async throws(RemoteError) -> T {
        do {
            return try await pool.runIfActive { () throws -> T in try body() }
        } catch let error as StorageError {
            throw RemoteError(error)
        } catch {
            throw RemoteError.internalError("\(error)", domain: .storage)
        }
    }
}

extension RemoteError {
    /// libvirt's error for a storage model or backend error.
    init(_ error: StorageError) {
        let code: ErrorCode
        switch error.kind {
        case .xml: code = .xmlError
        case .invalidArgument: code = .invalidArgument
        case .overflow: code = .overflow
        case .configUnsupported: code = .configUnsupported
        case .operationInvalid: code = .operationInvalid
        case .operationFailed: code = .operationFailed
        case .internalError: code = .internalError
        case .system: code = .systemError
        case .poolAlreadyBuilt: code = .storagePoolBuilt
        case .volumeExists: code = .storageVolumeExists
        case .noVolume: code = .noStorageVolume
        case .argumentUnsupported: code = .argumentUnsupported
        case .operationUnsupported: code = .operationUnsupported
        }
        self.init(code: code, domain: error.fromUtility ? .none : .storage, detail: error.message)
    }
}

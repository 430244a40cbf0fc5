import CorralProtocol
import CorralStorage

/// Runs the storage driver's blocking work — directory scans, file creation, `qemu-img` — on a
/// thread pool of its own, so a long clone or wipe never delays the domain driver's status
/// files, which share NIO's default pool, and never blocks an event loop.
enum StorageWork {
    /// Four threads: on these 2-core hosts a few concurrent long copies already fill the disks.
    static let work = DriverWork<StorageError>(threads: 4, domain: .storage) { RemoteError($0) }

    /// Runs `body` on the storage pool's threads.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(StorageError) -> T) async throws(RemoteError) -> T {
        try await work.run(body)
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

import CorralProtocol
import DomainXML
import Foundation

extension DomainDriver {
    /// Before QEMU starts: every local image of each disk's described backing chain must be
    /// there (libvirt's `qemuDomainDetermineDiskChain`, in its words), so a moved or missing
    /// layer is named instead of reported by QEMU as a node that failed to open. Blocks (a
    /// `stat` per layer): runs on the thread pool.
    nonisolated static func checkBackingChains(_ disks: [DomainDefinition.Disk]) throws(RemoteError) {
        for disk in disks {
            let top = disk.source ?? disk.network?.name ?? disk.targetDevice
            for layer in disk.backingChain where layer.type == .file || layer.type == .block {
                guard let path = layer.path, access(path, F_OK) != 0 else { continue }
                let reason = String(cString: strerror(errno))
                throw RemoteError(
                    code: .systemError, domain: .qemu,
                    detail: "Cannot access backing file '\(path)' of storage file '\(top)' (as uid:\(getuid()), gid:\(getgid())): \(reason)")
            }
        }
    }
}

import CorralJSON
import CorralProtocol
import DomainXML
import Glibc
import QEMUCommandLine
import QMP
import XDR

/// `virsh blockresize` and `virDomainBlockPeek`.
enum BlockDeviceProcedures {
    /// `VIR_DOMAIN_BLOCK_RESIZE_BYTES`; without it the size is in KiB.
    static let resizeBytes: UInt32 = 1
    /// `VIR_DOMAIN_BLOCK_RESIZE_CAPACITY`: grow to the underlying device's size.
    static let resizeCapacity: UInt32 = 2
    /// libvirt's `REMOTE_DOMAIN_BLOCK_PEEK_BUFFER_MAX`.
    static let maximumPeek: UInt32 = 4_194_304

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, jobs: DomainJobs) {
        table.registerAsync(Remote.DomainBlockResize.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: resizeBytes | resizeCapacity, function: "qemuDomainBlockResize")
            var size = arguments.size
            if arguments.flags & resizeBytes == 0 {
                let (bytes, overflow) = size.multipliedReportingOverflow(by: 1024)
                guard !overflow else { throw RemoteError(code: .overflow, domain: .qemu, detail: "size must be less than \(UInt64.max / 1024)") }
                size = bytes
            }
            let record = try registry.record(for: arguments.dom)
            try await jobs.run(record.name, "remoteDispatchDomainBlockResize") { () async throws(RemoteError) in
                guard let guest = registry.record(uuid: record.uuid)?.runtime else {
                    throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
                }
                guard let disk = guest.devices.disk(named: arguments.disk) else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "disk '\(arguments.disk)' was not found in the domain config")
                }
                let format = disk.format
                var target = size
                if arguments.flags & resizeCapacity != 0 {
                    guard let source = disk.source, let host = GuestStatistics.hostSizes(source) else {
                        throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "block resize to full capacity supported only with 'raw' local block-based disks")
                    }
                    target = host.length
                }
                // qcow2 and qed images are sized in whole 512-byte sectors.
                if format == "qcow2" || format == "qed" {
                    let (rounded, overflow) = target.addingReportingOverflow(511)
                    guard !overflow else { throw RemoteError(code: .overflow, domain: .qemu, detail: "size is too large") }
                    target = rounded / 512 * 512
                }
                guard let bytes = Int64(exactly: target) else { throw RemoteError(code: .overflow, domain: .qemu, detail: "size is too large") }
                do throws(QMPError) {
                    _ = try await guest.qmp.execute("block_resize", arguments: .object([("node-name", .string(disk.formatNode)), ("size", .number(JSONNumber(bytes)))]))
                } catch {
                    throw GuestStatistics.monitorFailure(error)
                }
            }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainBlockPeek.self) { arguments, _ throws(RemoteError) in
            guard arguments.size <= maximumPeek else { throw RemoteError.internalError("size > maximum buffer size") }
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainBlockPeek")
            let record = try registry.record(for: arguments.dom)
            let devices = record.runtime?.devices ?? GuestDevices(record.definition, runDirectory: "")
            guard let disk = devices.disk(named: arguments.path), let index = devices.disks.firstIndex(of: disk) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "disk '\(arguments.path)' not found in domain")
            }
            let format = devices.disks[index].format ?? "raw"
            guard format == "raw" else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "peeking is only supported for disk with 'raw' format not '\(format)'")
            }
            guard let source = disk.source else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "disk '\(arguments.path)' does not currently have a source assigned")
            }
            guard let offset = Int64(exactly: arguments.offset), offset <= Int64.max - Int64(arguments.size) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "'\(arguments.path)' starting from \(arguments.offset) has only 0 bytes available")
            }
            let size = Int(arguments.size)
            let bytes = try await BlockingWork.run { () throws(RemoteError) -> [UInt8] in
                let fd = open(source, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw RemoteError(code: .systemError, domain: .qemu, detail: "cannot open file '\(source)': \(String(cString: strerror(errno)))") }
                defer { close(fd) }
                var buffer = [UInt8](repeating: 0, count: size)
                var done = 0
                while done < size {
                    let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(offset) + off_t(done)) }
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 { break }
                    done += count
                }
                guard done == size else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "'\(arguments.path)' starting from \(offset) has only \(done) bytes available")
                }
                return buffer
            }
            return .init(buffer: bytes)
        }
    }
}

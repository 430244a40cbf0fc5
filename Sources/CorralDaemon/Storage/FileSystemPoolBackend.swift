import CorralStorage
import Foundation
import POSIXSupport

/// The `fs` pool backend: a block device (or an image behind a loop device) with a file system,
/// mounted on the pool's directory while the pool runs (libvirt's `storage_backend_fs.c`). Its
/// volumes are files, as in a `dir` pool. Blocking; runs on ``StorageWork``'s threads. Tools
/// (`mkfs`, `mount`, `umount`, `blkid`) run as child processes with argument vectors.
enum FileSystemPoolBackend {
    static let toolTimeout: Double = 600

    /// Formats the device when asked (`--overwrite`, or `--no-overwrite` on a device that has
    /// no file system yet), after making the target directory.
    static func build(_ pool: PoolDefinition, flags: DirectoryPoolBackend.BuildFlags) throws(StorageError) {
        try DirectoryPoolBackend.build(pool)
        guard flags.contains(.overwrite) || flags.contains(.noOverwrite) else { return }
        guard let device = pool.sourceDevices.first else { throw StorageError(.xml, "missing storage pool source device name") }
        let format = pool.sourceFormat ?? "auto"
        guard format != "auto" else {
            throw StorageError(.operationInvalid, "cannot format device '\(device)' with file system type 'auto': name one in <source><format type=…/>")
        }
        if flags.contains(.noOverwrite), let existing = existingFileSystem(device) {
            throw StorageError(.poolAlreadyBuilt, "Device '\(device)' already formatted using '\(existing)'")
        }
        var arguments = ["-t", format]
        if format.hasPrefix("ext") { arguments.append("-F") } else if format == "xfs" { arguments.append("-f") }
        arguments.append(device)
        try run("/usr/sbin/mkfs", arguments, what: "format \(device)")
    }

    /// The file system on `device`, if it has one (`blkid`).
    static func existingFileSystem(_ device: String) -> String? {
        guard let output = try? ChildProcess.run("/usr/sbin/blkid", ["-p", "-o", "value", "-s", "TYPE", "--", device], timeout: toolTimeout),
            output.status == 0
        else { return nil }
        let type = output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        return type.isEmpty ? nil : type
    }

    /// Mounts the device on the target (unless it is mounted there already).
    static func start(_ pool: PoolDefinition) throws(StorageError) {
        guard let device = pool.sourceDevices.first else { throw StorageError(.xml, "missing storage pool source device name") }
        try DirectoryPoolBackend.checkTarget(pool)
        if isMounted(pool.targetPath) { return }
        guard access(device, F_OK) == 0 else {
            throw StorageError.system("cannot find source device '\(device)'", errno: errno)
        }
        var arguments: [String] = []
        if let format = pool.sourceFormat, format != "auto" { arguments += ["-t", format] }
        arguments += ["-o", "nodev,nosuid,noexec", "--", device, pool.targetPath]
        try run("/usr/bin/mount", arguments, what: "mount \(device) on \(pool.targetPath)")
    }

    /// Unmounts the target.
    static func stop(_ pool: PoolDefinition) throws(StorageError) {
        guard isMounted(pool.targetPath) else { return }
        try run("/usr/bin/umount", ["--", pool.targetPath], what: "unmount \(pool.targetPath)")
    }

    /// Whether something is mounted on `path` (`/proc/self/mounts`, with its octal escapes).
    static func isMounted(_ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return false }
        return text.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 1 && unescapeMountField(String(fields[1])) == path
        }
    }

    private static func unescapeMountField(_ field: String) -> String {
        var out = ""
        var characters = Array(field)[...]
        while let character = characters.popFirst() {
            if character == "\\", characters.count >= 3, let code = UInt8(String(characters.prefix(3)), radix: 8) {
                out.unicodeScalars.append(UnicodeScalar(code))
                characters = characters.dropFirst(3)
            } else {
                out.append(character)
            }
        }
        return out
    }

    private static func run(_ executable: String, _ arguments: [String], what: String) throws(StorageError) {
        let output: ChildProcess.Output
        do {
            output = try ChildProcess.run(executable, arguments, timeout: toolTimeout)
        } catch {
            throw StorageError(.system, "cannot \(what): \(error)")
        }
        guard output.status == 0 else {
            let message = (output.standardError + output.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines)
            throw StorageError(.internalError, "cannot \(what): \(message)")
        }
    }
}

/// The backend of each supported pool type: what build, start, stop, delete and refresh do.
enum PoolBackends {
    static func build(_ pool: PoolDefinition, flags: UInt32) throws(StorageError) {
        let build = DirectoryPoolBackend.BuildFlags(rawValue: flags)
        switch pool.type {
        case .fs: try FileSystemPoolBackend.build(pool, flags: build)
        default: try DirectoryPoolBackend.build(pool)
        }
    }

    /// Starts the pool and scans it.
    static func start(_ pool: PoolDefinition) throws(StorageError) -> DirectoryPoolBackend.Scan {
        if pool.type == .fs { try FileSystemPoolBackend.start(pool) }
        do throws(StorageError) {
            return try DirectoryPoolBackend.refresh(pool)
        } catch {
            if pool.type == .fs { try? FileSystemPoolBackend.stop(pool) }
            throw error
        }
    }

    static func stop(_ pool: PoolDefinition) throws(StorageError) {
        if pool.type == .fs { try FileSystemPoolBackend.stop(pool) }
    }

    static func refresh(_ pool: PoolDefinition) throws(StorageError) -> DirectoryPoolBackend.Scan {
        try DirectoryPoolBackend.refresh(pool)
    }

    static func delete(_ pool: PoolDefinition) throws(StorageError) {
        try DirectoryPoolBackend.delete(pool)
    }
}

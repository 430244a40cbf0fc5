import CorralStorage
import Glibc

/// Blocking work on one volume's file: describing it (stat and header probe), creating,
/// deleting, resizing and wiping it. Runs on ``StorageWork``'s threads.
enum VolumeFiles {
    /// What the file at `path` is, as vol-dumpxml shows it; `nil` for what cannot be a volume
    /// (sockets, fifos, a symbolic link that leads out of `poolDirectory`, a vanished file).
    static func describe(name: String, path: String, poolDirectory: String) -> VolumeDescription? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            // Follow a link only when it stays inside the pool: an upload or a wipe must never
            // reach a file the pool does not own.
            guard let resolved = realpath(path, nil) else { return nil }
            defer { free(resolved) }
            let target = String(cString: resolved)
            guard target.hasPrefix(poolDirectory + "/"), stat(path, &info) == 0 else { return nil }
        }
        let permissions = StoragePermissions(mode: UInt32(info.st_mode & 0o7777), owner: info.st_uid, group: info.st_gid)
        let timestamps = Self.timestamps(info)
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            return VolumeDescription(
                name: name, key: path, path: path, type: .dir, format: .dir, capacity: 0, allocation: 0, physical: nil,
                permissions: permissions, timestamps: timestamps)
        case S_IFREG, S_IFBLK:
            let isBlock = (info.st_mode & S_IFMT) == S_IFBLK
            let size = isBlock ? Self.blockDeviceSize(path) : UInt64(max(0, info.st_size))
            let header = Self.probe(path)
            var capacity = header.virtualSize ?? size
            if header.virtualSize == nil, header.format != .raw && header.format != .iso {
                capacity = QemuImg.virtualSize(path: path, format: header.format) ?? size
            }
            var volume = VolumeDescription(
                name: name, key: path, path: path, type: isBlock ? .block : .file, format: header.format, capacity: capacity,
                allocation: isBlock ? size : UInt64(max(0, info.st_blocks)) * 512, physical: size, permissions: permissions,
                timestamps: timestamps)
            volume.clusterSize = header.clusterSize
            if let backingPath = header.backingPath {
                volume.backing = Self.backing(backingPath, format: header.backingFormat, imageDirectory: poolDirectory)
            }
            return volume
        default:
            return nil
        }
    }

    private static func backing(_ path: String, format: VolumeFormat?, imageDirectory: String) -> VolumeDescription.Backing {
        let absolute = path.hasPrefix("/") ? path : imageDirectory + "/" + path
        var info = stat()
        guard stat(absolute, &info) == 0 else { return VolumeDescription.Backing(path: absolute, format: format) }
        return VolumeDescription.Backing(
            path: absolute, format: format ?? probe(absolute).format,
            permissions: StoragePermissions(mode: UInt32(info.st_mode & 0o7777), owner: info.st_uid, group: info.st_gid),
            timestamps: timestamps(info))
    }

    static func timestamps(_ info: stat) -> VolumeDescription.Timestamps {
        VolumeDescription.Timestamps(
            access: (info.st_atim.tv_sec, info.st_atim.tv_nsec), modification: (info.st_mtim.tv_sec, info.st_mtim.tv_nsec),
            change: (info.st_ctim.tv_sec, info.st_ctim.tv_nsec))
    }

    /// The header of the file at `path` (raw when it cannot be read).
    static func probe(_ path: String) -> ImageHeader {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return ImageHeader(format: .raw, virtualSize: nil) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: ImageHeader.probeLength)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return ImageHeader.probe(Array(bytes.prefix(max(0, count))))
    }

    static func blockDeviceSize(_ path: String) -> UInt64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let end = lseek(fd, 0, SEEK_END)
        return UInt64(max(0, end))
    }

    /// Creates a raw file of `capacity` bytes with `allocation` of them allocated, as libvirt does.
    static func createRaw(path: String, capacity: UInt64, allocation: UInt64, mode: mode_t) throws(StorageError) {
        guard capacity <= UInt64(Int64.max), allocation <= UInt64(Int64.max) else { throw StorageError(.invalidArgument, "capacity too large") }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StorageError.system("cannot create volume '\(path)'", errno: errno) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(capacity)) == 0 else {
            let code = errno
            unlink(path)
            throw StorageError.system("cannot extend file '\(path)'", errno: code)
        }
        let allocate = min(allocation, capacity)
        if allocate > 0 {
            let result = posix_fallocate(fd, 0, off_t(allocate))
            if result != 0 {
                unlink(path)
                throw StorageError.system("cannot allocate \(allocate) bytes in file '\(path)'", errno: result)
            }
        }
        _ = fchmod(fd, mode)
    }

    /// Applies a volume's requested owner and group (mode is set at creation).
    static func applyOwnership(path: String, _ permissions: StoragePermissions) throws(StorageError) {
        if let mode = permissions.mode, chmod(path, mode_t(mode)) != 0 {
            throw StorageError.system("cannot set mode of '\(path)' to \(StoragePermissions.octal(mode))", errno: errno)
        }
        guard permissions.owner != nil || permissions.group != nil else { return }
        let owner = permissions.owner.map { uid_t($0) } ?? uid_t.max
        let group = permissions.group.map { gid_t($0) } ?? gid_t.max
        if chown(path, owner, group) != 0 {
            throw StorageError.system("cannot chown '\(path)' to (\(permissions.owner.map { "\($0)" } ?? "-1"), \(permissions.group.map { "\($0)" } ?? "-1"))", errno: errno)
        }
    }

    /// Removes a volume's file or (empty) directory.
    static func remove(_ volume: VolumeDescription) throws(StorageError) {
        if volume.type == .dir {
            guard rmdir(volume.path) == 0 else { throw StorageError.system("cannot remove directory '\(volume.path)'", errno: errno) }
        } else {
            guard unlink(volume.path) == 0 else { throw StorageError.system("cannot unlink file '\(volume.path)'", errno: errno) }
        }
    }
}

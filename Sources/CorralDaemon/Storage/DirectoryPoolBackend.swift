import CorralStorage
import Glibc

/// The `dir` pool backend: a directory of image files (libvirt's `storage_backend_fs.c` for
/// `dir`). Blocking; runs on ``StorageWork``'s threads.
enum DirectoryPoolBackend {
    /// `VIR_STORAGE_POOL_BUILD_*`.
    struct BuildFlags: OptionSet, Sendable {
        let rawValue: UInt32
        static let repair = BuildFlags(rawValue: 1)
        static let resize = BuildFlags(rawValue: 2)
        static let noOverwrite = BuildFlags(rawValue: 4)
        static let overwrite = BuildFlags(rawValue: 8)
    }

    /// The default mode of a pool's directory when it is built (libvirt's 0711).
    static let defaultDirectoryMode: UInt32 = 0o711
    /// The default mode of a new volume (libvirt's 0600).
    static let defaultVolumeMode: UInt32 = 0o600
    /// The prefix of Corral's own temporary files in a pool's directory, which a refresh skips.
    static let temporaryPrefix = ".corral-"

    /// Makes the target directory (and its parents) and applies the pool's permissions.
    ///
    /// A target that exists as anything but a directory, or as a symbolic link, is refused.
    static func build(_ pool: PoolDefinition) throws(StorageError) {
        let path = pool.targetPath
        var info = stat()
        if lstat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFDIR: break
            case S_IFLNK: throw StorageError(.operationInvalid, "storage pool target path '\(path)' is a symbolic link")
            default: throw StorageError(.operationInvalid, "storage pool target path '\(path)' exists and is not a directory")
            }
        } else {
            try makeDirectories(path, mode: mode_t(pool.targetPermissions.mode ?? defaultDirectoryMode))
        }
        var permissions = pool.targetPermissions
        if permissions.mode == nil && (info.st_mode & S_IFMT) != S_IFDIR { permissions.mode = defaultDirectoryMode }
        try VolumeFiles.applyOwnership(path: path, permissions)
    }

    private static func makeDirectories(_ path: String, mode: mode_t) throws(StorageError) {
        var prefix = ""
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        for (index, component) in components.enumerated() {
            prefix += "/" + component
            let isLast = index == components.count - 1
            if mkdir(prefix, isLast ? mode : 0o755) != 0 && errno != EEXIST {
                throw StorageError.system("cannot create path '\(path)'", errno: errno)
            }
        }
        _ = chmod(path, mode)
    }

    /// Checks the pool can start: its target is a directory.
    static func checkTarget(_ pool: PoolDefinition) throws(StorageError) {
        var info = stat()
        guard lstat(pool.targetPath, &info) == 0 else {
            throw StorageError.system("cannot open directory '\(pool.targetPath)'", errno: errno)
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw StorageError(.operationInvalid, "storage pool target path '\(pool.targetPath)' is not a directory")
        }
    }

    /// What a refresh finds: the file system's sizes, the directory's permissions, the volumes.
    struct Scan: Sendable {
        var sizes: PoolXMLFormatter.Sizes
        var permissions: StoragePermissions
        var volumes: [VolumeDescription]
    }

    /// Scans the pool's directory (libvirt's refresh).
    static func refresh(_ pool: PoolDefinition) throws(StorageError) -> Scan {
        try checkTarget(pool)
        let directory = pool.targetPath
        guard let handle = opendir(directory) else { throw StorageError.system("cannot open directory '\(directory)'", errno: errno) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." || name.hasPrefix(temporaryPrefix) { continue }
            names.append(name)
        }
        closedir(handle)
        let volumes = names.sorted().compactMap { name in
            VolumeFiles.describe(name: name, path: directory + "/" + name, poolDirectory: directory)
        }
        return Scan(sizes: try sizes(of: directory), permissions: try permissions(of: directory), volumes: volumes)
    }

    /// The file system's sizes as libvirt reports them (`statvfs`: free = blocks free).
    static func sizes(of directory: String) throws(StorageError) -> PoolXMLFormatter.Sizes {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { throw StorageError.system("cannot statvfs path '\(directory)'", errno: errno) }
        let fragment = UInt64(info.f_frsize)
        let (capacity, overflow) = UInt64(info.f_blocks).multipliedReportingOverflow(by: fragment)
        guard !overflow else { return PoolXMLFormatter.Sizes() }
        let available = UInt64(info.f_bfree) &* fragment
        return PoolXMLFormatter.Sizes(capacity: capacity, allocation: capacity &- available, available: available)
    }

    static func permissions(of directory: String) throws(StorageError) -> StoragePermissions {
        var info = stat()
        guard stat(directory, &info) == 0 else { throw StorageError.system("cannot stat path '\(directory)'", errno: errno) }
        return StoragePermissions(mode: UInt32(info.st_mode & 0o7777), owner: info.st_uid, group: info.st_gid)
    }

    /// Removes the pool's (empty) directory.
    static func delete(_ pool: PoolDefinition) throws(StorageError) {
        guard rmdir(pool.targetPath) == 0 else {
            throw StorageError.system("failed to remove pool '\(pool.targetPath)'", errno: errno)
        }
    }
}

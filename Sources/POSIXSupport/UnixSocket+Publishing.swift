#if canImport(Glibc)
import Glibc
#endif

extension UnixSocket {
    /// Makes sure a listening socket may be created at `path`: nothing is there, or a socket
    /// nobody listens on (left by a process that died; it is removed). A live socket or any
    /// other kind of file is never replaced.
    public static func claim(_ path: String) throws(SystemError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw SystemError("\(path) exists and is not a socket; refusing to replace it")
        }
        if isLive(path) { throw SystemError("something is already listening on \(path)") }
        unlink(path)
    }

    /// The name to bind a socket to before ``publish(_:as:permissions:group:)`` gives it its own.
    public static func temporaryPath(for path: String) -> String { path + ".binding.\(getpid())" }

    /// Gives a socket bound at `temporary` its permissions (and group, when given), then its name:
    /// clients never see it at `path` with looser permissions, nor before it accepts connections.
    public static func publish(_ temporary: String, as path: String, permissions: UInt32, group: UInt32? = nil) throws(SystemError) {
        guard chmod(temporary, mode_t(permissions)) == 0, group.map({ chown(temporary, uid_t.max, $0) == 0 }) ?? true,
            rename(temporary, path) == 0
        else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw SystemError("cannot publish the socket \(path): \(reason)")
        }
    }
}

/// Which file a path names (device and inode), to remove a published socket only while it is
/// still the one this process published (another daemon may have claimed the path since).
public struct FileIdentity: Sendable, Hashable {
    let device: UInt64
    let inode: UInt64

    /// The identity of the file at `path`, if there is one.
    public init?(path: String) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}

extension UnixSocket {
    /// Removes the socket at `path` if it is still the file `identity` names.
    public static func remove(_ path: String, ifStill identity: FileIdentity?) {
        guard let identity, FileIdentity(path: path) == identity else { return }
        unlink(path)
    }
}

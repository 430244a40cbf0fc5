public import DomainXML

/// The command line of the virtiofsd that serves one virtiofs share, as libvirt writes it
/// (`qemuVirtioFSBuildCommandLine`): the listening vhost-user socket handed over as a
/// descriptor (`--fd=N`), one `-o` list of the share's settings, and the thread pool size.
public enum VirtioFSDaemonCommandLine {
    /// The arguments (after the program) for `filesystem`, whose socket is descriptor `descriptor`.
    public static func arguments(_ filesystem: DomainDefinition.Filesystem, descriptor: Int32) -> [String] {
        let settings = filesystem.virtioFSDaemon
        var options = "source=" + escape(filesystem.source)
        if let cache = settings.cache { options += ",cache=" + cache.rawValue }
        if let sandbox = settings.sandbox { options += ",sandbox=" + sandbox.rawValue }
        for (name, value) in [("xattr", settings.xattr), ("flock", settings.flock), ("posix_lock", settings.posixLock)] {
            if let value { options += value ? ",\(name)" : ",no_\(name)" }
        }
        var arguments = ["--fd=\(descriptor)", "-o", options]
        if let size = settings.threadPoolSize { arguments.append("--thread-pool-size=\(size)") }
        return arguments
    }

    /// A value in virtiofsd's `-o` list, which FUSE's option parser splits at commas and where a
    /// backslash escapes the next character (libvirt doubles commas, which that parser does not
    /// read as one comma).
    static func escape(_ value: String) -> String {
        var escaped = ""
        for character in value {
            if character == "," || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}

import Foundation

/// systemd's readiness notification (`sd_notify`), for `Type=notify` units: one datagram with
/// `READY=1` to the socket `$NOTIFY_SOCKET` names (a path, or an abstract name after `@`).
enum SystemdNotify {
    /// Tells systemd the daemon is ready, if systemd asked to be told; then forgets the socket
    /// so that child processes (QEMU, helpers) cannot notify in the daemon's name.
    static func ready(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        unsetenv("NOTIFY_SOCKET")
        send("READY=1\nMAINPID=\(getpid())", to: path)
    }

    /// Sends `message` as one datagram to the notification socket at `path`.
    static func send(_ message: String, to path: String) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // an abstract socket
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        _ = message.withCString { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(descriptor, text, strlen(text), 0, $0, length) }
            }
        }
    }
}

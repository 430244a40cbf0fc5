import Foundation

/// What a listening socket handed over by systemd is for.
public enum ActivatedSocketRole: String, Sendable, Hashable {
    /// The read-write Unix socket (`corrald.socket`, or `libvirtd.socket` where corrald replaces libvirtd).
    case readWrite
    /// The read-only Unix socket (`…-ro.socket`).
    case readOnly
    /// The TLS listener (`…-tls.socket`).
    case tls
    /// The plain TCP listener (`…-tcp.socket`).
    case tcp

    /// The role a socket unit's name gives (systemd passes it in `LISTEN_FDNAMES`), by libvirt's
    /// unit naming: `NAME.socket`, `NAME-ro.socket`, `NAME-tls.socket`, `NAME-tcp.socket`. A unit
    /// may also name its descriptor `rw`, `ro`, `tls` or `tcp` with `FileDescriptorName=`.
    init?(descriptorName name: String) {
        switch name {
        case "rw": self = .readWrite
        case "ro": self = .readOnly
        case "tls": self = .tls
        case "tcp": self = .tcp
        default:
            if name.hasSuffix("-ro.socket") {
                self = .readOnly
            } else if name.hasSuffix("-tls.socket") {
                self = .tls
            } else if name.hasSuffix("-tcp.socket") {
                self = .tcp
            } else if name.hasSuffix(".socket") && !name.hasSuffix("-admin.socket") {
                self = .readWrite
            } else {
                return nil
            }
        }
    }
}

/// A listening socket systemd opened for the daemon.
public struct ActivatedSocket: Sendable, Hashable {
    /// The descriptor (from 3 on).
    public var descriptor: Int32
    /// What it is for.
    public var role: ActivatedSocketRole

    /// A socket at `descriptor` for `role`.
    public init(descriptor: Int32, role: ActivatedSocketRole) {
        self.descriptor = descriptor
        self.role = role
    }
}

/// systemd's socket activation protocol (`sd_listen_fds`): the sockets come as descriptors 3,
/// 4, … with `LISTEN_PID` (this process), `LISTEN_FDS` (how many) and `LISTEN_FDNAMES` (their
/// names, colon-separated).
public enum SocketActivation {
    /// The first descriptor systemd passes.
    public static let firstDescriptor: Int32 = 3

    /// A handed-over socket the daemon cannot use.
    public struct Problem: Error, CustomStringConvertible, Sendable, Hashable {
        public var description: String

        /// A problem described by `description`.
        public init(description: String) {
            self.description = description
        }
    }

    /// The sockets the environment hands over, or none when it hands over nothing for this
    /// process. Unnamed sockets are taken in order read-write, read-only, as for a unit without
    /// names. Several sockets may serve one role (corrald's own paths and libvirt's).
    public static func sockets(environment: [String: String], processID: Int32) throws(Problem) -> [ActivatedSocket] {
        guard let pidText = environment["LISTEN_PID"], let pid = Int32(pidText), pid == processID,
            let countText = environment["LISTEN_FDS"]
        else { return [] }
        guard let count = Int32(countText), (0...64).contains(count) else {
            throw Problem(description: "LISTEN_FDS '\(countText)' is not a count from 0 to 64")
        }
        let names = environment["LISTEN_FDNAMES"].map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        var sockets: [ActivatedSocket] = []
        let fallbackRoles: [ActivatedSocketRole] = [.readWrite, .readOnly]
        for offset in 0..<count {
            let index = Int(offset)
            let role: ActivatedSocketRole
            if index < names.count, !names[index].isEmpty, names[index] != "unknown" {
                guard let named = ActivatedSocketRole(descriptorName: names[index]) else {
                    throw Problem(description: "socket '\(names[index])' from systemd: not a corrald socket (NAME.socket, NAME-ro.socket, NAME-tls.socket or NAME-tcp.socket)")
                }
                role = named
            } else if index < fallbackRoles.count {
                role = fallbackRoles[index]
            } else {
                throw Problem(description: "socket \(firstDescriptor + offset) from systemd has no name to tell what it is for")
            }
            sockets.append(ActivatedSocket(descriptor: firstDescriptor + offset, role: role))
        }
        return sockets
    }
}

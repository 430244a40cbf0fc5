import XMLTree

extension DomainDefinition.Disk {
    /// The `<source>` of a `<disk type='network'>`: an image a QEMU block driver reads over the
    /// network (NBD, HTTP(S), FTP(S), iSCSI, RBD, SSH, Gluster, NFS), as libvirt's
    /// `virStorageSource` of a network disk.
    public struct NetworkSource: Hashable, Sendable {
        /// `<source protocol>`, spelled as libvirt spells it.
        public enum NetworkProtocol: String, ModelledValue {
            case nbd, rbd, sheepdog, gluster, iscsi, http, https, ftp, ftps, tftp, ssh, vxhs, nfs

            /// libvirt's default port for a TCP host of the protocol (`virStorageSourceNetworkDefaultPort`);
            /// `nil` where it gives none (RBD, NFS).
            public var defaultPort: Int? {
                switch self {
                case .http: 80
                case .https: 443
                case .ftp: 21
                case .ftps: 990
                case .tftp: 69
                case .sheepdog: 7000
                case .nbd: 10809
                case .ssh: 22
                case .iscsi: 3260
                case .gluster: 24007
                case .vxhs: 9999
                case .rbd, .nfs: nil
                }
            }

            /// The protocols QEMU's curl block driver serves.
            public var isCURL: Bool { [.http, .https, .ftp, .ftps, .tftp].contains(self) }
            /// Whether the protocol takes `<source query>` and `<cookies>` (HTTP and HTTPS).
            public var isHTTP: Bool { self == .http || self == .https }
            /// Whether `<auth>` may name a secret for the protocol.
            public var takesAuthentication: Bool { [.iscsi, .http, .https, .ftp, .ftps, .ssh, .rbd].contains(self) }
        }

        /// `<host transport>`.
        public enum Transport: String, ModelledValue {
            case tcp, unix, rdma
        }

        /// `<host name port transport socket>`: one server.
        public struct Host: Hashable, Sendable {
            public var transport: Transport
            /// The server's name or address (TCP and RDMA).
            public var name: String?
            /// The port; libvirt fills in the protocol's default for a TCP host.
            public var port: Int?
            /// The socket's path (the `unix` transport).
            public var socket: String?
        }

        /// `<cookie name>value</cookie>`: an HTTP cookie QEMU sends with each request.
        public struct Cookie: Hashable, Sendable {
            public var name: String
            public var value: String
        }

        /// `<auth username>` with its `<secret type usage|uuid>`: credentials libvirt reads from
        /// its secret driver.
        public struct Authentication: Hashable, Sendable {
            public var username: String
            /// `<secret type>` (`iscsi`, `ceph`, …).
            public var secretType: String?
            /// `<secret usage>` or `<secret uuid>`: which secret.
            public var secretUsage: String?
            public var secretUUID: String?
        }

        public var networkProtocol: NetworkProtocol
        /// `<source name>`: the export, target/LUN, path or `pool/image`, by protocol.
        public var name: String?
        /// `<source query>` (HTTP(S)): the URL's query.
        public var query: String?
        /// `<source tls>` and `tlsHostname`.
        public var tls: Bool?
        public var tlsHostname: String?
        public var hosts: [Host]
        /// `<snapshot name>` and `<config file>` (RBD).
        public var snapshot: String?
        public var configFile: String?
        /// `<initiator><iqn name>` (iSCSI).
        public var initiatorIQN: String?
        /// `<ssl verify>` (HTTPS, FTPS).
        public var sslVerify: Bool?
        /// `<cookies>` (HTTP(S)); secret, as libvirt keeps them.
        public var cookies: [Cookie]
        /// `<readahead size>` (bytes) and `<timeout seconds>` (HTTP(S), FTP(S)).
        public var readahead: UInt64?
        public var timeout: UInt64?
        /// `<auth>`.
        public var authentication: Authentication?
        /// An NFS source's `<identity user group>`: whom QEMU's NFS client says it is (a user or
        /// group name, or `+N` for the number N), as libvirt passes them.
        public var nfsUser: String?
        public var nfsGroup: String?

        static let schema = ElementSchema(
            "source", attributes: ["protocol", "name", "query", "tls", "tlsHostname", "index"],
            children: [
                ElementSchema("host", attributes: ["name", "port", "transport", "socket"]), ElementSchema("identity", attributes: ["user", "group"]),
                ElementSchema("snapshot", attributes: ["name"]), ElementSchema("config", attributes: ["file"]),
                ElementSchema("initiator", children: [ElementSchema("iqn", attributes: ["name"])]),
                ElementSchema("ssl", attributes: ["verify"]), ElementSchema("cookies", children: [.text("cookie", attributes: ["name"])]),
                ElementSchema("readahead", attributes: ["size"]), ElementSchema("timeout", attributes: ["seconds"]),
                ElementSchema("auth", attributes: ["username"], children: [ElementSchema("secret", attributes: ["type", "usage", "uuid"])]),
            ])

        /// Reads a `<source>`, with libvirt's define-time checks (`virDomainDiskSourceNetworkParse`
        /// and the QEMU driver's validation of a storage source).
        init(_ source: XMLElement) throws(DomainXMLError) {
            let networkProtocol = try NetworkProtocol.requiredAttribute("protocol", of: source)
            self.networkProtocol = networkProtocol
            name = source[attribute: "name"].flatMap { $0.isEmpty ? nil : $0 }
            if name == nil && networkProtocol != .nbd {
                throw DomainXMLError(.invalid, line: source.line, "missing name for disk source")
            }
            if networkProtocol == .gluster || networkProtocol == .rbd, let name {
                guard let slash = name.firstIndex(of: "/"), slash != name.startIndex else {
                    throw DomainXMLError(.invalid, line: source.line, "can't split path '\(name)' into pool name and image name")
                }
            }
            tls = try Self.yesNo("tls", of: source)
            tlsHostname = source[attribute: "tlsHostname"]
            query = networkProtocol.isHTTP ? source[attribute: "query"] : nil
            hosts = try source.elements(named: "host").map { host throws(DomainXMLError) in try Self.host(host, networkProtocol) }
            if networkProtocol == .nfs, let identity = source.element(named: "identity") {
                nfsUser = identity[attribute: "user"]
                nfsGroup = identity[attribute: "group"]
            }
            snapshot = source.element(named: "snapshot")?[attribute: "name"]
            configFile = source.element(named: "config")?[attribute: "file"]
            initiatorIQN = source.element(named: "initiator")?.element(named: "iqn")?[attribute: "name"]
            sslVerify = [.https, .ftps].contains(networkProtocol) ? try Self.yesNo("verify", of: source.element(named: "ssl")) : nil
            cookies = []
            if networkProtocol.isHTTP, let list = source.element(named: "cookies") {
                cookies = try list.elements(named: "cookie").map { cookie throws(DomainXMLError) in try Self.cookie(cookie) }
                var seen = Set<String>()
                for cookie in cookies where !seen.insert(cookie.name).inserted {
                    throw DomainXMLError(.invalid, line: list.line, "duplicate cookie '\(cookie.name)'")
                }
            }
            if networkProtocol.isCURL {
                for (child, attribute) in [("readahead", "size"), ("timeout", "seconds")] {
                    guard let text = source.element(named: child)?[attribute: attribute] else { continue }
                    guard let value = UInt64(text) else { throw DomainXMLError(.invalid, line: source.line, "invalid readahead size or timeout") }
                    if child == "readahead" { readahead = value == 0 ? nil : value } else { timeout = value == 0 ? nil : value }
                }
            }
            if let auth = source.element(named: "auth") { authentication = try Self.authentication(auth, networkProtocol) }
            try validate(line: source.line)
        }

        /// The QEMU driver's define-time checks (`qemuDomainValidateStorageSource`).
        func validate(line: Int?) throws(DomainXMLError) {
            if networkProtocol != .rbd {
                if snapshot != nil { throw DomainXMLError(.invalid, line: line, "<snapshot> element is currently supported only with 'rbd' disks") }
                if configFile != nil { throw DomainXMLError(.invalid, line: line, "<config> element is currently supported only with 'rbd' disks") }
            }
            if networkProtocol == .tftp {
                throw DomainXMLError(.unsupported, line: line, "'tftp' protocol is not supported with this QEMU binary")
            }
            if networkProtocol == .nfs {
                guard hosts.count == 1 else { throw DomainXMLError(.unsupported, line: line, "'nfs' protocol requires the usage of exactly one host") }
                guard hosts[0].transport == .tcp else { throw DomainXMLError(.unsupported, line: line, "'nfs' host must use TCP protocol") }
                if hosts[0].port != nil { throw DomainXMLError(.unsupported, line: line, "port cannot be specified in 'nfs' protocol host") }
            }
        }

        static func host(_ element: XMLElement, _ networkProtocol: NetworkProtocol) throws(DomainXMLError) -> Host {
            let transportName = element[attribute: "transport"]
            let transport: Transport
            if let transportName {
                guard let known = Transport(rawValue: transportName) else {
                    throw DomainXMLError(.unsupported, line: element.line, "unknown protocol transport type '\(transportName)'")
                }
                transport = known
            } else {
                transport = .tcp
            }
            let socket = element[attribute: "socket"]
            if transport == .unix && socket == nil { throw DomainXMLError(.invalid, line: element.line, "missing socket for unix transport") }
            if transport != .unix && socket != nil {
                throw DomainXMLError(.invalid, line: element.line, "transport '\(transportName ?? "(null)")' does not support socket attribute")
            }
            guard transport != .unix else { return Host(transport: transport, socket: socket) }
            guard let name = element[attribute: "name"] else { throw DomainXMLError(.invalid, line: element.line, "missing name for host") }
            var port: Int?
            if let text = element[attribute: "port"] {
                guard let value = Int(text), (0...65535).contains(value) else {
                    throw DomainXMLError(.invalid, line: element.line, "failed to parse port number '\(text)'")
                }
                port = value == 0 ? nil : value
            }
            if transport == .tcp && port == nil { port = networkProtocol.defaultPort }
            return Host(transport: transport, name: name, port: port)
        }

        /// libvirt's rule for a cookie: a token for a name, a value without controls, spaces,
        /// quotes, commas, semicolons or backslashes (optionally in double quotes).
        static func cookie(_ element: XMLElement) throws(DomainXMLError) -> Cookie {
            let name = element[attribute: "name"] ?? ""
            let value = element.text
            let invalidInValue: (Unicode.Scalar) -> Bool = { $0.value < 0x20 || " \",;\\".unicodeScalars.contains($0) }
            guard !name.isEmpty else { throw DomainXMLError(.invalid, line: element.line, "cookie name must not be empty") }
            if name.unicodeScalars.contains(where: { invalidInValue($0) || "()<>@:/[]?={}".unicodeScalars.contains($0) }) {
                throw DomainXMLError(.invalid, line: element.line, "cookie name '\(name)' contains invalid characters")
            }
            var unquoted = Substring(value)
            if unquoted.hasPrefix("\"") {
                guard unquoted.count >= 2, unquoted.hasSuffix("\"") else {
                    throw DomainXMLError(.invalid, line: element.line, "value of cookie '\(name)' contains invalid characters")
                }
                unquoted = unquoted.dropFirst().dropLast()
            }
            if unquoted.unicodeScalars.contains(where: invalidInValue) {
                throw DomainXMLError(.invalid, line: element.line, "value of cookie '\(name)' contains invalid characters")
            }
            return Cookie(name: name, value: value)
        }

        static func authentication(_ element: XMLElement, _ networkProtocol: NetworkProtocol) throws(DomainXMLError) -> Authentication {
            guard let username = element[attribute: "username"] else {
                throw DomainXMLError(.invalid, line: element.line, "missing username for auth")
            }
            guard let secret = element.element(named: "secret") else {
                throw DomainXMLError(.invalid, line: element.line, "Missing <secret> element in auth")
            }
            switch (secret[attribute: "uuid"], secret[attribute: "usage"]) {
            case (nil, nil): throw DomainXMLError(.invalid, line: secret.line, "missing secret uuid or usage attribute")
            case (.some, .some): throw DomainXMLError(.invalid, line: secret.line, "either secret uuid or usage expected")
            default: break
            }
            let authentication = Authentication(
                username: username, secretType: secret[attribute: "type"], secretUsage: secret[attribute: "usage"], secretUUID: secret[attribute: "uuid"])
            guard networkProtocol.takesAuthentication else {
                throw DomainXMLError(.unsupported, line: element.line, "authentication is not supported for protocol '\(networkProtocol.rawValue)'")
            }
            let known = ["none", "volume", "ceph", "iscsi", "tls", "vtpm"]
            guard let type = authentication.secretType, known.contains(type) else {
                throw DomainXMLError(.unsupported, line: element.line, "unknown secret type '\(authentication.secretType ?? "(null)")'")
            }
            if (networkProtocol == .iscsi && type != "iscsi") || (networkProtocol == .rbd && type != "ceph") {
                throw DomainXMLError(.unsupported, line: element.line, "invalid secret type '\(type)'")
            }
            return authentication
        }

        /// A `yes`/`no` attribute.
        static func yesNo(_ attribute: String, of element: XMLElement?) throws(DomainXMLError) -> Bool? {
            try AttributeValues.yesNo(attribute, of: element)
        }
    }
}

import DomainXML
import Foundation
import POSIXSupport
import QEMUCommandLine
import XMLTree

/// A stand-in host for one case of the domain XML corpus, so that QEMU can be started with the
/// case's command line: every host path the case names (disk images, shared directories, socket
/// and log paths, the kernel, the variable store) is moved under a scratch directory and made
/// there (an image of the case's format, a loop device for a block disk, a directory, the test
/// kernel, a copy of the OVMF variables), TPM emulators are started, and TCP peers the guest
/// connects to are listened for. Only paths differ from the golden argv.
final class CorpusHost {
    let scratch: String
    private var loopDevices: [String] = []
    private var helpers: [ChildProcess] = []
    private var listeners: [Int32] = []
    /// The ports listened on, once each (a serial's `<console>` repeats its source).
    private var listenedPorts: Set<UInt16> = []
    /// Whether testpmd ran, leaving its runtime directory.
    private var dpdkRuntime = false
    /// Whether NBD disks that do not say `tls` speak TLS (the daemon's `nbd_tls`).
    var networkDiskTLSByDefault = false
    /// The x509 files (``makeCertificates(in:)``) of the case's TLS endpoints, made when first asked for.
    private var certificateDirectory: String?

    init(scratch: String) {
        self.scratch = scratch
    }

    deinit {
        for helper in helpers { helper.stop(grace: 2) }
        // testpmd's runtime directory (its `--file-prefix`).
        if dpdkRuntime { try? FileManager.default.removeItem(atPath: "/var/run/dpdk/" + (scratch as NSString).lastPathComponent) }
        for descriptor in listeners { close(descriptor) }
        for device in loopDevices { _ = try? runProgram("/usr/sbin/losetup", ["-d", device]) }
    }

    /// The case's document with its host paths moved under the scratch directory, each made;
    /// a KVM guest runs under TCG when this machine has no usable KVM.
    func prepare(_ document: XMLElement, kvmUsable: Bool) throws -> XMLElement {
        var document = document
        if !kvmUsable && document[attribute: "type"] == "kvm" { document[attribute: "type"] = "qemu" }
        try rewrite(&document, path: [])
        return document
    }

    /// Starts what the guest connects to at start: swtpm for an emulated TPM, and virtiofsd
    /// for each virtiofs share (on the socket the daemon would make, or the case's own), handed
    /// its listening socket as the daemon hands it; and makes each transient disk's overlay, as
    /// the daemon does.
    func startHelpers(for definition: DomainDefinition, context: CommandLineContext) throws {
        try startVhostUserBackend(for: definition.devices.interfaces.compactMap { nic in nic.vhostUser.map { ($0, nic.driver?.queues ?? 1) } })
        // A named pipe for each pipe character device (QEMU opens it read-write).
        for device in definition.devices.serials + definition.devices.consoles + definition.devices.channels where device.type == .pipe {
            guard let path = device.path, !FileManager.default.fileExists(atPath: path) else { continue }
            try makeParent(of: path)
            guard mkfifo(path, 0o600) == 0 else { throw TestSetupError("mkfifo \(path): \(String(cString: strerror(errno)))") }
        }
        for disk in definition.devices.disks {
            guard let overlay = disk.transientOverlayPath(domainName: definition.name), let image = disk.source else { continue }
            let made = try runProgram("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", "-F", disk.format ?? "raw", "-b", image, overlay])
            guard made.status == 0 else { throw TestSetupError("qemu-img create \(overlay): \(made.error)") }
        }
        for tpm in definition.devices.tpms where tpm.backend == .emulator {
            try startTPM(at: context.tpmEmulatorSocket, version2: tpm.version != .v1_2)
        }
        for (index, filesystem) in definition.devices.filesystems.enumerated() where filesystem.driver == .virtiofs {
            var served = filesystem
            if served.source.isEmpty {
                served.source = scratch + "/virtiofs-\(index)"
                try FileManager.default.createDirectory(atPath: served.source, withIntermediateDirectories: true)
            }
            let socket = filesystem.sourceSocket ?? context.virtioFSSocket(alias: filesystem.alias ?? "fs\(index)")
            try makeParent(of: socket)
            let listening = try UnixSocket.listen(socket)
            defer { close(listening) }
            helpers.append(try ChildProcess.spawn(
                "/usr/lib/qemu/virtiofsd", VirtioFSDaemonCommandLine.arguments(served, descriptor: 3), standardOutput: .null, standardError: .null,
                passing: [listening]))
        }
    }

    private func scratchPath(for path: String) -> String {
        scratch + "/host" + path
    }

    private func makeParent(of path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    }

    private func rewrite(_ element: inout XMLElement, path: [String]) throws {
        let here = path + [element.name]
        let device = path.count >= 2 && path[1] == "devices" ? (here.count > 2 ? here[2] : nil) : nil
        switch (device, element.name) {
        case ("disk"?, "source") where here.count == 4 && element[attribute: "type"] == "unix" && element[attribute: "path"] != nil:
            // A vhost-user disk: qemu-storage-daemon exports a stand-in image on the socket.
            try serveVhostUserDisk(&element)
        case ("disk"?, "source") where element[attribute: "protocol"] != nil && (here.count == 4 || here[3..<(here.count - 1)].allSatisfy { $0 == "backingStore" }):
            // A network disk's image, or a network layer of a described backing chain.
            try serveNetworkDisk(&element)
        case ("disk"?, "source") where here.count == 4 || (here.count > 4 && here[3..<(here.count - 1)].allSatisfy { $0 == "backingStore" }):
            if let file = element[attribute: "file"] {
                let moved = scratchPath(for: file)
                try makeParent(of: moved)
                if let target = encryptedDiskTarget {
                    // A LUKS image (raw) or a qcow2 image with LUKS inside, under the passphrase
                    // the test hands QEMU for the disk.
                    let secret = "secret,id=sec0,data=\(Self.passphrase(for: target))"
                    // A short key derivation: QEMU repeats it on every open.
                    let options = diskFormat == "qcow2" ? ["-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"] : ["-o", "key-secret=sec0,iter-time=10"]
                    // QEMU times its key derivation in thread CPU milliseconds; on a busy machine a
                    // round can measure 0 ms and the create fails ("Unable to get accurate CPU
                    // usage"): that is tried again.
                    let arguments = ["create", "-q", "--object", secret, "-f", diskFormat == "qcow2" ? "qcow2" : "luks"] + options + [moved, "16M"]
                    var made = try runProgram("/usr/bin/qemu-img", arguments)
                    // (Thread CPU time is counted in scheduler ticks here, so a short round often
                    // measures 0: each try fails more often than not, hence many tries.)
                    for _ in 0..<40 where made.status != 0 && made.error.contains("Unable to get accurate CPU usage") {
                        made = try runProgram("/usr/bin/qemu-img", arguments)
                    }
                    guard made.status == 0 else { throw TestSetupError("qemu-img create \(moved): \(made.error)") }
                } else {
                    try runProgram("/usr/bin/qemu-img", ["create", "-q", "-f", diskFormat ?? "raw", moved, "16M"])
                }
                try Self.placeInStorageSlice(moved, source: element)
                element[attribute: "file"] = moved
            }
            if let dev = element[attribute: "dev"] {
                let backing = scratchPath(for: dev) + ".img"
                try makeParent(of: backing)
                try runProgram("/usr/bin/qemu-img", ["create", "-q", "-f", "raw", backing, "16M"])
                try Self.placeInStorageSlice(backing, source: element)
                let result = try runProgram("/usr/sbin/losetup", ["-f", "--show", backing])
                guard result.status == 0 else { throw TestSetupError("losetup: \(result.error)") }
                let loop = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
                loopDevices.append(loop)
                element[attribute: "dev"] = loop
            }
        case ("filesystem"?, "source"):
            if let socket = element[attribute: "socket"] {
                element[attribute: "socket"] = scratchPath(for: socket)
            }
            if let dir = element[attribute: "dir"] {
                let moved = scratchPath(for: dir)
                try FileManager.default.createDirectory(atPath: moved, withIntermediateDirectories: true)
                element[attribute: "dir"] = moved
            }
        case ("memory"?, "path") where here.count == 5, ("pstore"?, "path") where here.count == 4:
            // The file of an NVDIMM, virtio-pmem or pstore device: QEMU makes it the device's size.
            let moved = scratchPath(for: element.text)
            try makeParent(of: moved)
            element.setText(moved)
        case ("smartcard"?, "smartcard") where here.count == 3 && element[attribute: "mode"] == "host-certificates":
            try makeCertificateDatabase(for: &element)
        case ("serial"?, "source"), ("parallel"?, "source"), ("console"?, "source"), ("channel"?, "source"), ("tpm"?, "source"), ("smartcard"?, "source"),
            ("rng"?, "source"), ("interface"?, "source"):
            if characterDeviceType == "dev", here.count == 4 {
                // A host serial port: a pseudo-terminal of the test's stands in for it.
                element[attribute: "path"] = try openPseudoTerminal()
            } else if let socketPath = element[attribute: "path"] {
                let moved = scratchPath(for: socketPath)
                try makeParent(of: moved)
                element[attribute: "path"] = moved
                if device == "tpm" { try startTPM(at: moved, version2: true) }
            }
            if element[attribute: "mode"] == "connect", let host = element[attribute: "host"], let service = element[attribute: "service"].flatMap({ UInt16($0) }) {
                try listen(host: host, port: service)
            }
        case ("redirdev"?, "source"):
            if element[attribute: "mode"] == "connect", let host = element[attribute: "host"], let service = element[attribute: "service"].flatMap({ UInt16($0) }) {
                try listen(host: host, port: service)
            }
        case ("graphics"?, "graphics") where element[attribute: "type"] == "sdl":
            // An SDL window: on an X server of the test's (Xvfb), without an authority file.
            element[attribute: "display"] = try startXServer()
            element[attribute: "xauth"] = nil
        case ("graphics"?, "graphics"), ("graphics"?, "listen"):
            // A VNC server's Unix socket.
            if let socket = element[attribute: "socket"] {
                let moved = scratchPath(for: socket)
                try makeParent(of: moved)
                element[attribute: "socket"] = moved
            }
        case ("serial"?, "log"), ("console"?, "log"), ("channel"?, "log"), ("parallel"?, "log"):
            if let file = element[attribute: "file"] {
                let moved = scratchPath(for: file)
                try makeParent(of: moved)
                element[attribute: "file"] = moved
            }
        case (nil, "table") where path == ["domain", "os", "acpi"]:
            // A SLIC table QEMU accepts: a bare 36-byte ACPI header whose length says 36.
            let moved = scratchPath(for: element.text)
            try makeParent(of: moved)
            var header = Array("SLIC".utf8) + [36, 0, 0, 0, 1, 0] + Array("CORRAL".utf8) + Array("CORRALTB".utf8) + [1, 0, 0, 0]
            header += Array("CRRL".utf8) + [1, 0, 0, 0]
            FileManager.default.createFile(atPath: moved, contents: Data(header))
            element.setText(moved)
        case (nil, "kernel") where path == ["domain", "os"]:
            element.setText(try testGuestFile("vmlinuz"))
        case (nil, "initrd") where path == ["domain", "os"]:
            element.setText(try testGuestFile("initramfs.gz"))
        case (nil, "source") where path == ["domain", "os", "nvram"]:
            // libvirt 9.0's form of the variable store: a copy of the template as a file, on a
            // loop device, or served over NBD (the firmware's flash fits below 4 GiB only at
            // the template's size).
            let template = "/usr/share/OVMF/OVMF_VARS_4M.fd"
            if element[attribute: "protocol"] != nil {
                try serveNetworkDisk(&element, image: template)
            } else if let file = element[attribute: "file"] {
                let moved = scratchPath(for: file)
                try makeParent(of: moved)
                try FileManager.default.copyItem(atPath: template, toPath: moved)
                element[attribute: "file"] = moved
            } else if let dev = element[attribute: "dev"] {
                let backing = scratchPath(for: dev) + ".img"
                try makeParent(of: backing)
                try FileManager.default.copyItem(atPath: template, toPath: backing)
                let result = try runProgram("/usr/sbin/losetup", ["-f", "--show", backing])
                guard result.status == 0 else { throw TestSetupError("losetup: \(result.error)") }
                let loop = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
                loopDevices.append(loop)
                element[attribute: "dev"] = loop
            }
        case (nil, "nvram") where path == ["domain", "os"] && element.elements.isEmpty:
            let moved = scratchPath(for: element.text)
            try makeParent(of: moved)
            let template = element[attribute: "template"] ?? "/usr/share/OVMF/OVMF_VARS_4M.fd"
            try FileManager.default.copyItem(atPath: template, toPath: moved)
            element.setText(moved)
        default:
            break
        }
        if here.count == 3, ["serial", "parallel", "console", "channel"].contains(element.name) { characterDeviceType = element[attribute: "type"] }
        if element.name == "disk" {
            diskFormat = element.element(named: "driver")?[attribute: "type"]
            let encrypted = element.element(named: "encryption") != nil || element.element(named: "source")?.element(named: "encryption") != nil
            encryptedDiskTarget = encrypted ? element.element(named: "target")?[attribute: "dev"] : nil
            diskTarget = element.element(named: "target")?[attribute: "dev"] ?? ""
        }
        // A described backing layer's image has the layer's format.
        let (enclosingFormat, enclosingEncryption) = (diskFormat, encryptedDiskTarget)
        if element.name == "backingStore" && device == "disk" {
            diskFormat = element.element(named: "format")?[attribute: "type"]
            // An encrypted layer's image under the passphrase the test hands QEMU for it (the
            // layer's position in the chain, top down).
            let position = here.filter { $0 == "backingStore" }.count - 1
            encryptedDiskTarget = element.element(named: "source")?.element(named: "encryption") != nil ? Self.backingLayerName(diskTarget, position) : nil
        }
        for index in element.children.indices {
            guard case .element(var child) = element.children[index] else { continue }
            try rewrite(&child, path: here)
            element.children[index] = .element(child)
        }
        if element.name == "backingStore" { (diskFormat, encryptedDiskTarget) = (enclosingFormat, enclosingEncryption) }
    }

    /// The format of the disk being rewritten (its `<driver type>`).
    private var diskFormat: String?
    /// The type of the character device being rewritten.
    private var characterDeviceType: String?

    /// Opens a pseudo-terminal (its controlling side stays open until cleanup); the path of its
    /// terminal side.
    private func openPseudoTerminal() throws -> String {
        let (controller, path) = try PseudoTerminal.open()
        listeners.append(controller)
        return path
    }
    /// The target of the disk being rewritten when it is encrypted.
    private var encryptedDiskTarget: String?

    /// The passphrase of an encrypted stand-in image, by the disk's target.
    static func passphrase(for target: String) -> String { "passphrase-\(target)" }

    /// The name an encrypted backing layer's passphrase is made from.
    static func backingLayerName(_ target: String, _ position: Int) -> String { "\(target)-backing\(position)" }

    /// The target of the disk being rewritten.
    private var diskTarget = ""

    private func testGuestFile(_ name: String) throws -> String {
        let path = BuiltProducts.packageRoot.appendingPathComponent(".test-guest/" + name).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw TestSetupError("\(path) is missing: Scripts/build-test-guest.sh makes it (Scripts/test.sh runs it)")
        }
        return path
    }

    /// DPDK's testpmd as the vhost-user backend of the case's vhost-user interfaces (one port
    /// each, echoing what the guest sends), without huge pages: listening where QEMU connects,
    /// connecting where QEMU listens. Returns once the sockets QEMU connects to exist.
    private func startVhostUserBackend(for interfaces: [(source: DomainDefinition.Interface.VhostUserSource, queues: Int)]) throws {
        guard !interfaces.isEmpty else { return }
        let sources = interfaces.map(\.source)
        var arguments = ["--no-huge", "-m", "128", "--no-pci", "--file-prefix=" + (scratch as NSString).lastPathComponent, "--log-level=lib.eal:error"]
        // Every port with the most queues any interface asks for (testpmd's queue counts are
        // per run); a guest uses as many as it has.
        let queues = max(interfaces.map(\.queues).max() ?? 1, 1)
        for (index, source) in sources.enumerated() {
            try makeParent(of: source.path)
            arguments += ["--vdev", "net_vhost\(index),iface=\(source.path),queues=\(queues)" + (source.qemuListens ? ",client=1" : "")]
        }
        // A stats period keeps it running (without one it exits when its input ends).
        arguments += ["--", "--total-num-mbufs=4096", "--rxq=\(queues)", "--txq=\(queues)", "--forward-mode=io", "--auto-start", "--stats-period=3600"]
        helpers.append(try ChildProcess.spawn("/usr/bin/dpdk-testpmd", arguments, standardOutput: .null, standardError: .null))
        dpdkRuntime = true
        let deadline = Date().addingTimeInterval(20)
        for source in sources where !source.qemuListens {
            while !FileManager.default.fileExists(atPath: source.path) && Date() < deadline { usleep(10_000) }
        }
    }

    private func startTPM(at socket: String, version2: Bool) throws {
        let state = scratch + "/tpm-\(helpers.count)"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try makeParent(of: socket)
        let helper = try ChildProcess.spawn(
            "/usr/bin/swtpm", ["socket", "--tpmstate", "dir=\(state)", "--ctrl", "type=unixio,path=\(socket)"] + (version2 ? ["--tpm2"] : []),
            standardOutput: .null, standardError: .null)
        helpers.append(helper)
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) && Date() < deadline { usleep(10_000) }
    }

    /// A stand-in image moved to where the source's storage slice (`<slices><slice
    /// type='storage' offset size>`) says it is: `offset` bytes into its file, which is made
    /// (sparse) at least `offset + size` bytes long, as QEMU's raw driver requires of a slice.
    static func placeInStorageSlice(_ path: String, source: XMLElement) throws {
        guard let slice = source.element(named: "slices")?.elements(named: "slice").first(where: { $0[attribute: "type"] == "storage" }),
            let offset = slice[attribute: "offset"].flatMap({ UInt64($0.trimmingCharacters(in: .whitespaces)) }),
            let size = slice[attribute: "size"].flatMap({ UInt64($0.trimmingCharacters(in: .whitespaces)) })
        else { return }
        let image = try Data(contentsOf: URL(fileURLWithPath: path))
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw TestSetupError("cannot rewrite \(path) for its slice")
        }
        defer { try? file.close() }
        try file.seek(toOffset: offset)
        try file.write(contentsOf: image)
        if try file.offset() < offset + size { try file.truncate(atOffset: offset + size) }
    }

    /// A certificate authority with a server and a client certificate it signed, for SPICE's
    /// and QEMU's TLS endpoints, as QEMU's `x509-dir` and `tls-creds-x509` want them
    /// (`ca-cert.pem`, `server-cert.pem`, `server-key.pem`, `client-cert.pem`,
    /// `client-key.pem`) in `directory`, which is returned.
    /// An X server (Xvfb) on a display number no other server holds; its display (`:N`), once
    /// it accepts clients.
    private func startXServer() throws -> String {
        for _ in 0..<10 {
            let number = Int.random(in: 100...999)
            let socket = "/tmp/.X11-unix/X\(number)"
            guard !FileManager.default.fileExists(atPath: "/tmp/.X\(number)-lock"), !FileManager.default.fileExists(atPath: socket) else { continue }
            let server = try ChildProcess.spawn("/usr/bin/Xvfb", [":\(number)", "-nolisten", "tcp", "-screen", "0", "1024x768x24"], standardOutput: .null, standardError: .null)
            helpers.append(server)
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if FileManager.default.fileExists(atPath: socket) { return ":\(number)" }
                usleep(20_000)
            }
        }
        throw TestSetupError("no X server (Xvfb) started for the SDL display")
    }

    /// The case's x509 directory, made the first time.
    func certificates() throws -> String {
        if let certificateDirectory { return certificateDirectory }
        let directory = try Self.makeCertificates(in: scratch + "/qemu-pki")
        certificateDirectory = directory
        return directory
    }

    static func makeCertificates(in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Corral test CA", "-keyout", directory + "/ca-key.pem", "-out", directory + "/ca-cert.pem"],
        ]
        for (end, name) in [("server", "localhost"), ("client", "corral-test-client")] {
            // The server's names for the clients that check them (QEMU's checks the address it reached).
            let names = end == "server" ? ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"] : []
            steps.append(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)"] + names + ["-keyout", directory + "/\(end)-key.pem", "-out", directory + "/\(end).csr"])
            steps.append(["x509", "-req", "-in", directory + "/\(end).csr", "-CA", directory + "/ca-cert.pem", "-CAkey", directory + "/ca-key.pem", "-CAcreateserial",
                          "-copy_extensions", "copyall", "-days", "2", "-out", directory + "/\(end)-cert.pem"])
        }
        for step in steps {
            let result = try runProgram("/usr/bin/openssl", step)
            guard result.status == 0 else { throw TestSetupError("openssl \(step[0]): \(result.error)") }
        }
        return directory
    }

    /// qemu-storage-daemon exporting a stand-in raw image as a vhost-user-blk server on the
    /// disk's socket (moved under the scratch directory); returns once the socket exists.
    private func serveVhostUserDisk(_ source: inout XMLElement) throws {
        let socket = scratchPath(for: source[attribute: "path"] ?? "vhost-user-blk.sock")
        source[attribute: "path"] = socket
        try makeParent(of: socket)
        let image = scratch + "/vhost-user-disk-\(helpers.count).img"
        try runProgram("/usr/bin/qemu-img", ["create", "-q", "-f", "raw", image, "16M"])
        helpers.append(try ChildProcess.spawn("/usr/bin/qemu-storage-daemon", [
            "--blockdev", "driver=file,node-name=file0,filename=\(image)",
            "--export", "type=vhost-user-blk,id=export0,node-name=file0,addr.type=unix,addr.path=\(socket),writable=on",
        ], standardOutput: .null, standardError: .null))
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) && Date() < deadline { usleep(10_000) }
    }

    /// A server for a network disk the case names, where this machine has one: `qemu-nbd`
    /// for NBD (on a free port of 127.0.0.1, or on a socket moved under the scratch directory),
    /// `Scripts/range-http-server.py` for HTTP; each serves a stand-in image of the disk's
    /// format. The servers of other protocols are moved to a free port of the loopback address,
    /// where nothing answers (so no test traffic leaves the machine; the test checks QEMU
    /// parses their nodes).
    private func serveNetworkDisk(_ source: inout XMLElement, image template: String? = nil) throws {
        let networkProtocol = source[attribute: "protocol"]
        guard networkProtocol == "nbd" || networkProtocol == "http" else {
            let port = try Self.freePort()
            source.updateElements { host in
                guard host.name == "host", let name = host[attribute: "name"] else { return }
                host[attribute: "name"] = name.contains(":") ? "::1" : "127.0.0.1"
                if host[attribute: "port"] != nil { host[attribute: "port"] = String(port) }
            }
            return
        }
        let image = scratch + "/network-disk-\(helpers.count).img"
        try makeParent(of: image)
        if let template {
            try FileManager.default.copyItem(atPath: template, toPath: image)
        } else {
            try runProgram("/usr/bin/qemu-img", ["create", "-q", "-f", diskFormat ?? "raw", image, "16M"])
        }
        let port = try Self.freePort()
        var socketPath: String?
        source.updateElements { host in
            guard host.name == "host" else { return }
            if let socket = host[attribute: "socket"] {
                socketPath = scratchPath(for: socket)
                host[attribute: "socket"] = socketPath
            } else {
                host[attribute: "name"] = "127.0.0.1"
                host[attribute: "port"] = String(port)
            }
        }
        if networkProtocol == "nbd" {
            var arguments = ["--persistent", "--shared=4", "-f", "raw", "-x", source[attribute: "name"] ?? ""]
            if source[attribute: "tls"].map({ $0 == "yes" }) ?? networkDiskTLSByDefault {
                // A TLS server, with the certificates QEMU's client end checks it against.
                arguments += ["--object", "tls-creds-x509,id=tls0,endpoint=server,dir=\(try certificates())", "--tls-creds", "tls0"]
            }
            if let socketPath {
                try makeParent(of: socketPath)
                arguments += ["-k", socketPath]
            } else {
                arguments += ["-b", "127.0.0.1", "-p", String(port)]
            }
            helpers.append(try ChildProcess.spawn("/usr/bin/qemu-nbd", arguments + [image], standardOutput: .null, standardError: .null))
        } else {
            let served = scratch + "/http/" + (source[attribute: "name"] ?? "disk.img")
            try makeParent(of: served)
            try FileManager.default.moveItem(atPath: image, toPath: served)
            let script = BuiltProducts.packageRoot.appendingPathComponent("Scripts/range-http-server.py").path
            helpers.append(try ChildProcess.spawn("/usr/bin/python3", [script, scratch + "/http", String(port)], standardOutput: .null, standardError: .null))
        }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let socketPath { if FileManager.default.fileExists(atPath: socketPath) { return } } else if Self.accepts(port: port) { return }
            usleep(20_000)
        }
        throw TestSetupError("the \(networkProtocol ?? "") server for the disk did not start listening")
    }

    /// An NSS database holding a self-signed certificate for each `<certificate>` name of a
    /// host-certificates smartcard, in the scratch directory; the card's `<database>` names it.
    private func makeCertificateDatabase(for card: inout XMLElement) throws {
        let database = scratch + "/nssdb-\(helpers.count)"
        try FileManager.default.createDirectory(atPath: database, withIntermediateDirectories: true)
        let noise = database + "/noise"
        FileManager.default.createFile(atPath: noise, contents: Data((0..<64).map { _ in UInt8.random(in: 0...255) }))
        guard try runProgram("/usr/bin/certutil", ["-N", "-d", "sql:" + database, "--empty-password"]).status == 0 else {
            throw TestSetupError("certutil could not make an NSS database (libnss3-tools)")
        }
        for certificate in card.elements(named: "certificate") {
            let made = try runProgram("/usr/bin/certutil", [
                "-S", "-d", "sql:" + database, "-n", certificate.text, "-s", "CN=\(certificate.text)", "-x", "-t", "CT,C,C", "-k", "rsa", "-g", "2048", "-z", noise,
            ])
            guard made.status == 0 else { throw TestSetupError("certutil -S \(certificate.text): \(made.error)") }
        }
        card.children.removeAll { if case .element(let e) = $0 { e.name == "database" } else { false } }
        card.children.append(.element(XMLElement(name: "database", children: [.text(database)])))
    }

    /// A TCP port of 127.0.0.1 nothing listens on now.
    static func freePort() throws -> UInt16 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw TestSetupError("cannot find a free port") }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Whether something accepts connections on `port` of 127.0.0.1.
    static func accepts(port: UInt16) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
    }

    private func listen(host: String, port: UInt16) throws {
        guard listenedPorts.insert(port).inserted else { return }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var reuse: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, Glibc.listen(descriptor, 4) == 0 else {
            close(descriptor)
            throw TestSetupError("cannot listen on \(host):\(port) for the guest to connect to")
        }
        listeners.append(descriptor)
    }
}

import CorralClient
import Foundation
import POSIXSupport

/// RPC round trips over TLS with 16 connections (GET_HOSTNAME, Corral's client on both sides of
/// the comparison): corrald's TLS listener against libvirtd's, with certificates made here by
/// GnuTLS's certtool. libvirtd is started for this with `--listen` (so a libvirtd this run did
/// not start, which it cannot restart, is measured without TLS figures).
enum TLSRPCBenchmark {
    /// Runs certtool with the file names in `arguments` taken relative to `directory`.
    static func certtool(_ arguments: [String], in directory: String) throws {
        let absolute = arguments.map { $0.hasSuffix(".pem") || $0.hasSuffix(".info") ? directory + "/" + $0 : $0 }
        let result = try ChildProcess.run("/usr/bin/certtool", absolute)
        guard result.status == 0 else { throw BenchError("certtool \(arguments): \(result.standardError)") }
    }

    /// A CA, a server certificate for 127.0.0.1 and a client directory for `pkipath=`.
    static func makeCertificates(in directory: String) throws -> String {
        try "cn = Bench CA\nca\ncert_signing_key\nexpiration_days = 2\n".write(toFile: directory + "/ca.info", atomically: true, encoding: .utf8)
        try "cn = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n"
            .write(toFile: directory + "/server.info", atomically: true, encoding: .utf8)
        try "cn = bench\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n".write(toFile: directory + "/client.info", atomically: true, encoding: .utf8)
        try certtool(["--generate-privkey", "--outfile", "cakey.pem"], in: directory)
        try certtool(["--generate-self-signed", "--load-privkey", "cakey.pem", "--template", "ca.info", "--outfile", "cacert.pem"], in: directory)
        let client = directory + "/client"
        try FileManager.default.createDirectory(atPath: client, withIntermediateDirectories: true)
        for (key, certificate, template) in [("serverkey.pem", "servercert.pem", "server.info"), ("client/clientkey.pem", "client/clientcert.pem", "client.info")] {
            try certtool(["--generate-privkey", "--outfile", key], in: directory)
            try certtool([
                "--generate-certificate", "--load-privkey", key, "--load-ca-certificate", "cacert.pem", "--load-ca-privkey", "cakey.pem",
                "--template", template, "--outfile", certificate,
            ], in: directory)
        }
        try FileManager.default.copyItem(atPath: directory + "/cacert.pem", toPath: client + "/cacert.pem")
        return client
    }

    static func run(corrald: String, libvirtd: BenchLibvirtd?, seconds: Double, connections: Int) async throws {
        print("RPC over TLS: GET_HOSTNAME, \(connections) connections, \(seconds) s, Corral's client")
        let directory = NSTemporaryDirectory() + "corral-bench-tls-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let client = try makeCertificates(in: directory)
        let files = "ca_file = \"\(directory)/cacert.pem\"\ncert_file = \"\(directory)/servercert.pem\"\nkey_file = \"\(directory)/serverkey.pem\"\n"
        let ourPort = 26600 + Int(getpid() % 100), theirPort = 26700 + Int(getpid() % 100)
        try ("listen_addr = \"127.0.0.1\"\ntls_port = \"\(ourPort)\"\n" + files).write(toFile: directory + "/corrald.conf", atomically: true, encoding: .utf8)
        let daemon = try BenchDaemon(binary: corrald, extraArguments: ["--listen", "--config", directory + "/corrald.conf"])
        defer { daemon.stop() }
        let ours = try await RPCLoad.measure(uri: "qemu+tls://127.0.0.1:\(ourPort)/system?pkipath=\(client)", call: .hostname, connections: connections, seconds: seconds)
        print(ours.row(call: .hostname, connections: connections, target: "corrald"))
        guard let libvirtd, libvirtd.started else {
            print("  libvirtd over TLS: not measured (this run did not start libvirtd, so it cannot restart it with --listen)")
            return
        }
        // The reference libvirtd again, listening on TLS too.
        libvirtd.stop()
        try ("listen_tls = 1\nlisten_tcp = 0\nlisten_addr = \"127.0.0.1\"\ntls_port = \"\(theirPort)\"\nauth_unix_rw = \"none\"\n" + files)
            .write(toFile: directory + "/libvirtd.conf", atomically: true, encoding: .utf8)
        let pidfile = directory + "/libvirtd.pid"
        _ = try BenchLibvirtd.shell(["/usr/sbin/libvirtd", "-d", "--listen", "-f", directory + "/libvirtd.conf", "-p", pidfile])
        defer {
            if let text = try? String(contentsOfFile: pidfile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGTERM)
                for _ in 0..<50 where kill(pid, 0) == 0 { usleep(100_000) }
            }
        }
        let uri = "qemu+tls://127.0.0.1:\(theirPort)/system?pkipath=\(client)"
        var ready = false
        for _ in 0..<100 where !ready {
            ready = (try? await CorralConnection.withConnection(to: uri) { try await $0.hostname() }) != nil
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard ready else {
            print("  libvirtd did not listen on TLS")
            return
        }
        let theirs = try await RPCLoad.measure(uri: uri, call: .hostname, connections: connections, seconds: seconds)
        print(theirs.row(call: .hostname, connections: connections, target: "libvirtd"))
        print(String(format: "  corrald/libvirtd over TLS: %.2fx calls/s (goal ≥ 3x)", (Double(ours.calls) / ours.seconds) / (Double(theirs.calls) / theirs.seconds)))
    }
}

@testable import CorralDaemon
import Foundation
import Testing

/// Certificates and a revocation list made by GnuTLS's certtool, the tool libvirt's
/// documentation uses, read the way libvirtd reads them.
@Suite("TLS client certificates: subjects and revocation")
struct TLSCertificateFactsTests {
    static func certtool(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/certtool")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "certtool \(arguments)")
    }

    /// A CA, a client certificate with the given template lines, and a CRL revoking it.
    static func makeCertificates(subject: String) throws -> (directory: String, client: [UInt8], crl: [UInt8], otherCRL: [UInt8]) {
        let directory = NSTemporaryDirectory() + "corral-x509-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "cn = Test CA\nca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 2\n".write(toFile: directory + "/ca.info", atomically: true, encoding: .utf8)
        try (subject + "\ntls_www_client\nexpiration_days = 2\nserial = 4660\n").write(toFile: directory + "/client.info", atomically: true, encoding: .utf8)
        try "serial = 4661\ntls_www_client\nexpiration_days = 2\ncn = other\n".write(toFile: directory + "/other.info", atomically: true, encoding: .utf8)
        try "expiration_days = 2\n".write(toFile: directory + "/crl.info", atomically: true, encoding: .utf8)
        try certtool(["--generate-privkey", "--outfile", "ca.key"], in: directory)
        try certtool(["--generate-self-signed", "--load-privkey", "ca.key", "--template", "ca.info", "--outfile", "ca.pem"], in: directory)
        for name in ["client", "other"] {
            try certtool(["--generate-privkey", "--outfile", "\(name).key"], in: directory)
            try certtool([
                "--generate-certificate", "--load-privkey", "\(name).key", "--load-ca-certificate", "ca.pem", "--load-ca-privkey", "ca.key",
                "--template", "\(name).info", "--outfile", "\(name).pem",
            ], in: directory)
            try certtool(["--certificate-info", "--infile", "\(name).pem", "--outder", "--outfile", "\(name).der"], in: directory)
        }
        try certtool([
            "--generate-crl", "--load-ca-certificate", "ca.pem", "--load-ca-privkey", "ca.key", "--load-certificate", "client.pem",
            "--template", "crl.info", "--outfile", "crl.pem",
        ], in: directory)
        try certtool([
            "--generate-crl", "--load-ca-certificate", "ca.pem", "--load-ca-privkey", "ca.key", "--load-certificate", "other.pem",
            "--template", "crl.info", "--outfile", "other-crl.pem",
        ], in: directory)
        func read(_ name: String) -> [UInt8] { Array(FileManager.default.contents(atPath: directory + "/" + name) ?? Data()) }
        return (directory, read("client.der"), read("crl.pem"), read("other-crl.pem"))
    }

    @Test("the subject in the certificate's order, as GnuTLS gives it to libvirt's tls_allowed_dn_list")
    func subjectOrder() throws {
        let made = try Self.makeCertificates(subject: "country = GB\nstate = London\norganization = Corral, Test\ncn = client1")
        defer { try? FileManager.default.removeItem(atPath: made.directory) }
        let facts = try X509CertificateFacts(der: made.client)
        #expect(facts.subject == "C=GB,ST=London,O=Corral\\, Test,CN=client1")
        #expect(facts.serialNumber == [0x12, 0x34])
    }

    @Test("a revocation list revokes its serials, and only those")
    func revocation() throws {
        let made = try Self.makeCertificates(subject: "cn = client1")
        defer { try? FileManager.default.removeItem(atPath: made.directory) }
        let facts = try X509CertificateFacts(der: made.client)
        #expect(try CertificateRevocationList(contents: made.crl).revokes(facts))
        #expect(try !CertificateRevocationList(contents: made.otherCRL).revokes(facts))
        #expect(throws: X509CertificateFacts.Malformed.self) { try CertificateRevocationList(contents: Array("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n".utf8)) }
        #expect(throws: X509CertificateFacts.Malformed.self) { try X509CertificateFacts(der: [0x30, 0x03, 0x02, 0x01, 0x01]) }
    }

    @Test("special characters are escaped as RFC 4514 says")
    func escaping() {
        #expect(DistinguishedNameText.escape("a,b+c\"d\\e<f>g;h") == "a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h")
        #expect(DistinguishedNameText.escape("#lead and trail ") == "\\#lead and trail\\ ")
    }
}

@Suite("Keepalive towards clients")
struct ConnectionKeepaliveTests {
    @Test("PINGs after silence, closed after count unanswered, reset by any message")
    func rule() {
        var unanswered = 0
        #expect(ConnectionKeepalive.tick(receivedSinceTick: false, unansweredPings: &unanswered, count: 2) == .sendPing)
        #expect(ConnectionKeepalive.tick(receivedSinceTick: false, unansweredPings: &unanswered, count: 2) == .sendPing)
        #expect(ConnectionKeepalive.tick(receivedSinceTick: false, unansweredPings: &unanswered, count: 2) == .close)
        unanswered = 1
        #expect(ConnectionKeepalive.tick(receivedSinceTick: true, unansweredPings: &unanswered, count: 2) == nil)
        #expect(unanswered == 0)
    }
}

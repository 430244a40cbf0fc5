import Foundation
import NIOSSL

/// The TLS listener's credentials and client rules, loaded once at start: the server's
/// certificate and key, the CA client certificates must chain to, the CA's revocation list, and
/// the allowed subjects (libvirt's `tls_allowed_dn_list`).
struct TLSServerCredentials: Sendable {
    /// The context every TLS connection is made from.
    let context: NIOSSLContext
    private let revocationList: CertificateRevocationList?
    private let allowedSubjects: [String]?

    /// The listener cannot start; the message names the file, as libvirtd's do.
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// Loads the files; throws when one is missing or unreadable, before anything listens.
    init(files: TLSFiles, allowedSubjects: [String]?) throws(LoadError) {
        func read(_ path: String, _ what: String) throws(LoadError) -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: path) else {
                let reason = FileManager.default.fileExists(atPath: path) ? "Permission denied" : "No such file or directory"
                throw LoadError(description: "Cannot read \(what) '\(path)': \(reason)")
            }
            return Array(data)
        }
        let authority = try read(files.certificateAuthority, "CA certificate")
        let certificate = try read(files.certificate, "server certificate")
        let key = try read(files.privateKey, "server private key")
        var revocation: CertificateRevocationList?
        if files.revocationListRequired || FileManager.default.fileExists(atPath: files.revocationList) {
            let contents = try read(files.revocationList, "CA revocation list")
            do throws(X509CertificateFacts.Malformed) {
                revocation = try CertificateRevocationList(contents: contents)
            } catch {
                throw LoadError(description: "Cannot load CA revocation list '\(files.revocationList)': \(error)")
            }
        }
        do {
            let roots = try NIOSSLCertificate.fromPEMBytes(authority)
            guard !roots.isEmpty else { throw LoadError(description: "Cannot load CA certificate '\(files.certificateAuthority)': no certificate in it") }
            let chain = try NIOSSLCertificate.fromPEMBytes(certificate)
            guard !chain.isEmpty else { throw LoadError(description: "Cannot load server certificate '\(files.certificate)': no certificate in it") }
            let privateKey = try NIOSSLPrivateKey(bytes: key, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
            // Client certificates are required and must chain to the CA (libvirt's default,
            // tls_no_verify_certificate = 0); client hostnames are not checked.
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(roots)
            // TLS 1.2 only: under TLS 1.3 BoringSSL sends session tickets after the handshake,
            // and libvirt's GnuTLS client, reading the one-byte confirmation that follows, takes
            // the ticket record for an empty read and gives up ("Unable to read TLS confirmation:
            // Resource temporarily unavailable"). swift-nio-ssl has no switch to send no tickets.
            configuration.minimumTLSVersion = .tlsv12
            configuration.maximumTLSVersion = .tlsv12
            context = try NIOSSLContext(configuration: configuration)
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError(description: "Cannot set up TLS with '\(files.certificate)', '\(files.privateKey)' and '\(files.certificateAuthority)': \(error)")
        }
        revocationList = revocation
        self.allowedSubjects = allowedSubjects
    }

    /// Why a client whose certificate verified is still refused, or `nil` to let it in.
    func refusal(peerCertificateDER der: [UInt8]) -> String? {
        let facts: X509CertificateFacts
        do throws(X509CertificateFacts.Malformed) {
            facts = try X509CertificateFacts(der: der)
        } catch {
            return "unreadable client certificate: \(error)"
        }
        if let revocationList, revocationList.revokes(facts) {
            return "the client's certificate is revoked (\(facts.subject))"
        }
        if let allowedSubjects, !allowedSubjects.contains(where: { fnmatch($0, facts.subject, 0) == 0 }) {
            return "Client's x509 Distinguished Name is not on the list of allowed clients (tls_allowed_dn_list): \(facts.subject)"
        }
        return nil
    }

    /// The subject of an admitted client, for logs and `CONNECT_GET_URI`-style identity.
    static func subject(peerCertificateDER der: [UInt8]) -> String? {
        try? X509CertificateFacts(der: der).subject
    }
}

import Foundation
import SwiftASN1

/// The parts of an X.509 certificate the TLS listener checks: its subject (for
/// `tls_allowed_dn_list`), issuer and serial number (for the revocation list). Read with
/// swift-asn1; the signature and chain are BoringSSL's to verify.
struct X509CertificateFacts: Sendable, Hashable {
    /// The subject as GnuTLS writes it for libvirt (`C=GB,ST=London,O=Example,CN=client`): the
    /// name's parts in the certificate's order, RFC 4514 escaping.
    var subject: String
    /// The issuer's name, DER-encoded, to match a revocation list's issuer.
    var issuerDER: [UInt8]
    /// The serial number's magnitude (no leading zero bytes).
    var serialNumber: [UInt8]

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads a DER certificate.
    init(der: [UInt8]) throws(Malformed) {
        do {
            let certificate = try DER.parse(der)
            let tbs = try Self.children(of: certificate).first.map(Self.children(of:)) ?? []
            var index = 0
            // version [0] EXPLICIT, optional.
            if index < tbs.count, tbs[index].identifier.tagClass == .contextSpecific, tbs[index].identifier.tagNumber == 0 { index += 1 }
            guard tbs.count >= index + 6, tbs[index].identifier == .integer, case .primitive(let serial) = tbs[index].content else {
                throw Malformed(description: "not an X.509 certificate")
            }
            serialNumber = Self.magnitude(serial)
            issuerDER = Array(tbs[index + 2].encodedBytes)
            subject = try DistinguishedNameText.render(tbs[index + 4])
        } catch let error as Malformed {
            throw error
        } catch {
            throw Malformed(description: "not an X.509 certificate: \(error)")
        }
    }

    static func children(of node: ASN1Node) throws(Malformed) -> [ASN1Node] {
        guard case .constructed(let collection) = node.content else { throw Malformed(description: "expected a constructed ASN.1 value") }
        return Array(collection)
    }

    static func magnitude(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        Array(bytes.drop { $0 == 0 })
    }
}

/// A certificate revocation list: which serial numbers its issuer revoked.
struct CertificateRevocationList: Sendable, Hashable {
    /// The issuer's name, DER-encoded.
    var issuerDER: [UInt8]
    /// Revoked serial numbers (magnitudes).
    var revokedSerialNumbers: Set<[UInt8]>

    /// Reads a PEM (`X509 CRL`) or DER revocation list.
    init(contents: [UInt8]) throws(X509CertificateFacts.Malformed) {
        var der = contents
        if let text = String(bytes: contents, encoding: .utf8), text.contains("-----BEGIN") {
            guard let document = try? PEMDocument(pemString: text), document.discriminator == "X509 CRL" else {
                throw .init(description: "not a PEM 'X509 CRL'")
            }
            der = document.derBytes
        }
        do {
            let list = try DER.parse(der)
            let tbs = try X509CertificateFacts.children(of: list).first.map(X509CertificateFacts.children(of:)) ?? []
            var index = 0
            if index < tbs.count, tbs[index].identifier == .integer { index += 1 }  // version
            guard tbs.count >= index + 3 else { throw X509CertificateFacts.Malformed(description: "not a revocation list") }
            issuerDER = Array(tbs[index + 1].encodedBytes)
            index += 3  // signature algorithm, issuer, thisUpdate
            let isTime = { (node: ASN1Node) in node.identifier == .utcTime || node.identifier == .generalizedTime }
            if index < tbs.count, isTime(tbs[index]) { index += 1 }  // nextUpdate
            var revoked: Set<[UInt8]> = []
            if index < tbs.count, tbs[index].identifier == .sequence {
                for entry in try X509CertificateFacts.children(of: tbs[index]) {
                    guard let serial = try X509CertificateFacts.children(of: entry).first, case .primitive(let bytes) = serial.content else {
                        throw X509CertificateFacts.Malformed(description: "a revoked entry without a serial number")
                    }
                    revoked.insert(X509CertificateFacts.magnitude(bytes))
                }
            }
            revokedSerialNumbers = revoked
        } catch let error as X509CertificateFacts.Malformed {
            throw error
        } catch {
            throw .init(description: "not a revocation list: \(error)")
        }
    }

    /// Whether `certificate` is revoked by this list.
    func revokes(_ certificate: X509CertificateFacts) -> Bool {
        certificate.issuerDER == issuerDER && revokedSerialNumbers.contains(certificate.serialNumber)
    }
}

/// Writes an X.509 name as GnuTLS's `gnutls_x509_crt_get_dn` does, which is what libvirt
/// matches `tls_allowed_dn_list` against.
enum DistinguishedNameText {
    /// GnuTLS's short names for the attribute types it knows; others are written as dotted OIDs.
    static let attributeNames: [String: String] = [
        "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU",
        "2.5.4.12": "title", "2.5.4.4": "SN", "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
        "2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym", "2.5.4.5": "serialNumber", "2.5.4.17": "postalCode", "2.5.4.41": "name",
        "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID", "1.2.840.113549.1.9.1": "EMAIL",
    ]

    static func render(_ name: ASN1Node) throws -> String {
        var parts: [String] = []
        for relative in try X509CertificateFacts.children(of: name) {
            var members: [String] = []
            for attribute in try X509CertificateFacts.children(of: relative) {
                let pair = try X509CertificateFacts.children(of: attribute)
                guard pair.count == 2 else { throw X509CertificateFacts.Malformed(description: "a name attribute without a value") }
                let oid = try ASN1ObjectIdentifier(derEncoded: pair[0])
                let type = attributeNames[oid.description] ?? oid.description
                members.append(type + "=" + value(pair[1]))
            }
            parts.append(members.joined(separator: "+"))
        }
        return parts.joined(separator: ",")
    }

    /// A string value with RFC 4514's escapes, or `#` and the DER in hex for other types.
    static func value(_ node: ASN1Node) -> String {
        let stringTags: [ASN1Identifier] = [.utf8String, .printableString, .ia5String, .teletexString, .bmpString, .universalString]
        guard stringTags.contains(node.identifier), case .primitive(let bytes) = node.content else {
            return "#" + node.encodedBytes.map { String(format: "%02x", $0) }.joined()
        }
        let text: String
        switch node.identifier {
        case .bmpString: text = String(decoding: stride(from: bytes.startIndex, to: bytes.endIndex - 1, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }, as: UTF16.self)
        case .teletexString: text = String(bytes.map { Character(Unicode.Scalar($0)) })
        default: text = String(decoding: bytes, as: UTF8.self)
        }
        return escape(text)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        let characters = Array(text)
        for (index, character) in characters.enumerated() {
            let special = ",+\"\\<>;".contains(character)
                || (index == 0 && (character == "#" || character == " "))
                || (index == characters.count - 1 && character == " ")
            if special { out.append("\\") }
            out.append(character)
        }
        return out
    }
}

import CorralProtocol
import Foundation
import XMLTree

/// libvirt's QEMU migration cookie: the XML each side hands the other between the phases
/// (`<qemu-migration>`), sent as bytes with a trailing NUL counted in the length.
///
/// Corral writes the identity every libvirt destination requires (name, UUID, host name and host
/// UUID) and, from Perform to Finish with `PERSIST_DEST`, the persistent definition (the
/// mandatory `persistent` feature and a `<domain>`). It reads the same, and refuses mandatory
/// features it does not know, as libvirt does.
struct MigrationCookie: Sendable, Equatable {
    var name: String
    var uuid: String
    var hostname: String
    var hostUUID: String
    /// The persistent definition (inactive XML) the destination keeps.
    var persistentXML: String?
    /// Mandatory features the sender named (`<feature name=…/>`).
    var mandatoryFeatures: [String] = []
    /// The storage copy (`<nbd>`): from the source, the disks and their sizes (so the
    /// destination can create missing images); from the destination, its NBD server's port.
    var nbd: MigrationNBD?

    /// The features Corral understands when the other side says they are mandatory.
    static let understoodFeatures: Set<String> = ["persistent", "lockstate", "memory-hotplug", "cpu-hotplug"]
    /// The largest cookie accepted (the protocol's bound).
    static let maximumLength = 4_194_304

    /// The cookie as sent: XML and a NUL.
    var encoded: [UInt8] {
        var text = "<qemu-migration>\n"
        text += "  <name>\(XMLTreeWriter.escape(name, attribute: false))</name>\n"
        text += "  <uuid>\(XMLTreeWriter.escape(uuid, attribute: false))</uuid>\n"
        text += "  <hostname>\(XMLTreeWriter.escape(hostname, attribute: false))</hostname>\n"
        text += "  <hostuuid>\(XMLTreeWriter.escape(hostUUID, attribute: false))</hostuuid>\n"
        var features = mandatoryFeatures
        if persistentXML != nil && !features.contains("persistent") { features.append("persistent") }
        for feature in features { text += "  <feature name='\(XMLTreeWriter.escape(feature, attribute: true))'/>\n" }
        if let nbd { text += nbd.element }
        if let persistentXML {
            for line in persistentXML.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
                text += "  " + line + "\n"
            }
        }
        text += "</qemu-migration>\n"
        return Array(text.utf8) + [0]
    }

    /// Reads a cookie; `nil` for an empty one (libvirt accepts those).
    static func decode(_ bytes: [UInt8]) throws(RemoteError) -> MigrationCookie? {
        guard !bytes.isEmpty else { return nil }
        guard bytes.count <= maximumLength else { throw invalid("too large") }
        guard bytes.last == 0 else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "Migration cookie was not NULL terminated")
        }
        guard let text = String(bytes: bytes.dropLast(), encoding: .utf8) else { throw invalid("not UTF-8") }
        let root: XMLElement
        do throws(XMLParseError) {
            root = try XMLTreeParser.parse(text)
        } catch {
            throw invalid(error.description)
        }
        guard root.name == "qemu-migration" else { throw invalid("its root is <\(root.name)>") }
        func child(_ name: String) throws(RemoteError) -> String {
            guard let value = root.element(named: name)?.text, !value.isEmpty else {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "missing \(name) element in migration data")
            }
            return value
        }
        var cookie = MigrationCookie(name: try child("name"), uuid: try child("uuid"), hostname: try child("hostname"), hostUUID: try child("hostuuid"))
        for feature in root.elements(named: "feature") {
            let name = feature.attributes.first { $0.name == "name" }?.value ?? ""
            guard understoodFeatures.contains(name) else {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "Unsupported migration cookie feature \(name)")
            }
            cookie.mandatoryFeatures.append(name)
        }
        if let nbd = root.element(named: "nbd") { cookie.nbd = try MigrationNBD(nbd) }
        if let domain = root.element(named: "domain") {
            cookie.persistentXML = XMLTreeWriter(libxml2Style: true).write(domain)
        }
        return cookie
    }

    private static func invalid(_ why: String) -> RemoteError {
        RemoteError(code: .internalError, domain: .qemu, detail: "cannot parse migration cookie: \(why)")
    }

    /// libvirt's checks of the other side's cookie against the domain and this host.
    func check(uuid expectedUUID: String, localHostUUID: String) throws(RemoteError) {
        guard uuid.lowercased() == expectedUUID.lowercased() else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "Incoming cookie data had unexpected UUID \(uuid) vs \(expectedUUID)")
        }
        guard hostUUID.lowercased() != localHostUUID.lowercased() else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "Attempt to migrate guest to the same host \(hostUUID)")
        }
    }
}

import CorralProtocol
import XMLTree

/// A secret's definition in libvirt's XML (`virSecretDef`): its UUID, whether it is ephemeral
/// (never written to disk) and private (its value not given to other users), a description and
/// what it is used for. Reading and writing only; the driver keeps them and their values.
struct SecretDefinition: Hashable, Sendable {
    /// `<usage type>` (`virSecretUsageType`, by its wire number).
    enum UsageType: Int32, Sendable, CaseIterable {
        case none = 0, volume = 1, ceph = 2, iscsi = 3, tls = 4, vtpm = 5

        /// The name libvirt writes.
        var name: String {
            switch self {
            case .none: "none"
            case .volume: "volume"
            case .ceph: "ceph"
            case .iscsi: "iscsi"
            case .tls: "tls"
            case .vtpm: "vtpm"
            }
        }

        init?(name: String) {
            guard let found = Self.allCases.first(where: { $0.name == name }) else { return nil }
            self = found
        }

        /// The child of `<usage>` that names what the secret is for, and the message when it is
        /// missing.
        var idElement: (name: String, missing: String)? {
            switch self {
            case .none: nil
            case .volume: ("volume", "volume usage specified, but volume path is missing")
            case .ceph: ("name", "Ceph usage specified, but name is missing")
            case .iscsi: ("target", "iSCSI usage specified, but target is missing")
            case .tls: ("name", "TLS usage specified, but name is missing")
            case .vtpm: ("name", "vTPM usage specified, but name is missing")
            }
        }
    }

    var uuid: RemoteUUID
    var isEphemeral = false
    var isPrivate = false
    var description: String?
    var usageType = UsageType.none
    /// The volume path, Ceph name, iSCSI target…; `nil` for usage `none`.
    var usageID: String?

    /// The handle libvirt's API passes around (`remote_nonnull_secret`).
    var handle: RemoteSecret {
        RemoteSecret(uuid: uuid, usageType: usageType.rawValue, usageID: usageID ?? "")
    }

    /// Reads a definition as libvirt's `virSecretDefParse` does; a missing `<uuid>` is a new one.
    static func parse(_ xml: String, newUUID: () -> RemoteUUID) throws(RemoteError) -> SecretDefinition {
        let root: XMLElement
        do throws(XMLParseError) {
            root = try XMLTreeParser.parse(xml)
        } catch {
            throw RemoteError(code: .xmlError, domain: .secret, detail: "(definition_of_secret):\(error)")
        }
        guard root.name == "secret" else {
            throw RemoteError(code: .xmlError, domain: .xml, detail: "expecting root element of 'secret', not '\(root.name)'")
        }
        var definition = SecretDefinition(uuid: newUUID())
        for (attribute, message) in [("ephemeral", "invalid value of 'ephemeral'"), ("private", "invalid value of 'private'")] {
            guard let text = root[attribute: attribute] else { continue }
            guard text == "yes" || text == "no" else { throw RemoteError(code: .xmlError, domain: .secret, detail: message) }
            if attribute == "ephemeral" { definition.isEphemeral = text == "yes" } else { definition.isPrivate = text == "yes" }
        }
        if let text = root.element(named: "uuid")?.text {
            guard let uuid = RemoteUUID(text.trimmingWhitespace) else {
                throw RemoteError(code: .internalError, domain: .secret, detail: "malformed uuid element")
            }
            definition.uuid = uuid
        }
        definition.description = root.element(named: "description")?.text
        if let usage = root.element(named: "usage") {
            guard let typeName = usage[attribute: "type"] else {
                throw RemoteError(code: .xmlError, domain: .secret, detail: "unknown secret usage type")
            }
            guard let type = UsageType(name: typeName) else {
                throw RemoteError(code: .configUnsupported, domain: .secret, detail: "unknown secret usage type \(typeName)")
            }
            definition.usageType = type
            if let (name, missing) = type.idElement {
                guard let id = usage.element(named: name)?.text else { throw RemoteError(code: .internalError, domain: .secret, detail: missing) }
                definition.usageID = id
            }
        }
        return definition
    }

    /// libvirt's formatting (`virSecretDefFormat`).
    var xml: String {
        var text = "<secret ephemeral='\(isEphemeral ? "yes" : "no")' private='\(isPrivate ? "yes" : "no")'>\n"
        text += "  <uuid>\(uuid)</uuid>\n"
        if let description { text += "  <description>\(Self.escape(description))</description>\n" }
        if usageType != .none {
            text += "  <usage type='\(usageType.name)'>\n"
            if let (name, _) = usageType.idElement, let usageID {
                text += "    <\(name)>\(Self.escape(usageID))</\(name)>\n"
            }
            text += "  </usage>\n"
        }
        return text + "</secret>\n"
    }

    /// Element text escaped as libvirt's `virBufferEscapeString` does (quotes too).
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

extension String {
    var trimmingWhitespace: String {
        var scalars = Substring(self)
        while scalars.first?.isWhitespace == true { scalars.removeFirst() }
        while scalars.last?.isWhitespace == true { scalars.removeLast() }
        return String(scalars)
    }
}

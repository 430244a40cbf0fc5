import CorralJSON
import CorralProtocol
import DomainXML
import Foundation
import QMP
import XMLTree

/// `update-device` of a running guest's VNC or SPICE server, as libvirt's
/// qemuDomainChangeGraphics: only its password changes (`passwd`, `passwdValidTo`,
/// `connected`), with QMP `set_password` and `expire_password`; its listens, ports and keymap
/// stay, and a change to them is refused in libvirt's words. The caller holds the domain's job.
extension DomainDriver {
    nonisolated func updateLiveGraphics(_ element: XMLElement, of record: DomainRecord) async throws(RemoteError) -> XMLElement {
        let (guest, live, displays, index) = try liveDevice(element, of: record)
        let type = element[attribute: "type"] ?? ""
        // The new display as a definition reads it (its listens and ports completed), in the
        // old one's place.
        let trial: ParsedDomain
        do throws(DomainXMLError) {
            trial = try DomainXMLParser.parse(DeviceXML.replacing("graphics", at: index, with: element, in: live.document), options: liveOptions)
        } catch {
            throw RemoteError(domainXMLError: error)
        }
        let oldElement = displays[index], newElement = DeviceXML.devices(named: "graphics", in: trial.document)[index]
        guard let old = live.definition.devices.graphics.first(where: { $0.type.rawValue == type }),
            let new = trial.definition.devices.graphics.first(where: { $0.type.rawValue == type })
        else { throw RemoteError(code: .internalError, domain: .qemu, detail: "the display of type '\(type)' was not read") }
        try Self.checkGraphicsChange(old: oldElement, new: newElement, oldServer: old, newServer: new)
        // The password is set again when it or its expiry or `connected` changes, or any expiry
        // was or is set (SPICE: also to disconnect clients).
        let changes = old.password != new.password || old.passwordValidTo != nil || new.passwordValidTo != nil
            || old.connectedClients != new.connectedClients || (new.type == .spice && new.connectedClients == .disconnect)
        guard changes else { return oldElement }
        if let password = new.password {
            let expiry = Self.passwordExpiry(password: password, validTo: new.passwordValidTo, now: Int64(Date().timeIntervalSince1970))
            var arguments: [(String, JSONValue)] = [("protocol", .string(type)), ("password", .string(password))]
            if let connected = new.connectedClients { arguments.append(("connected", .string(connected.rawValue))) }
            do throws(QMPError) {
                _ = try await guest.qmp.execute("set_password", arguments: .object(arguments))
                _ = try await guest.qmp.execute("expire_password", arguments: .object([("protocol", .string(type)), ("time", .string(expiry))]))
            } catch {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'set_password': \(error.message)")
            }
        }
        // (Without a new password QEMU keeps the one it has, as libvirt leaves it; the document
        // then names none.)
        var changed = oldElement
        let names = ["passwd", "passwdValidTo", "connected"]
        changed.attributes.removeAll { $0.namespace == nil && names.contains($0.name) }
        changed.attributes += newElement.attributes.filter { $0.namespace == nil && names.contains($0.name) }
        let document = DeviceXML.replacing("graphics", at: index, with: changed, in: live.document)
        registry.updateGuest(record.uuid) { guest in guest.liveXML = DomainXMLFormatter.format(document, id: Int(guest.id)) }
        await liveXMLChanged(record.uuid)
        return changed
    }

    /// libvirt's refusals of a display change it cannot make live (qemuDomainChangeGraphics), in
    /// its order: the listens (number, type, address or socket), the ports, the keymap.
    nonisolated static func checkGraphicsChange(
        old: XMLElement, new: XMLElement, oldServer: DomainDefinition.Graphics, newServer: DomainDefinition.Graphics
    ) throws(RemoteError) {
        let type = newServer.type.rawValue
        func refuse(_ message: String) -> RemoteError { RemoteError(code: .operationUnsupported, domain: .qemu, detail: message) }
        let oldListens = old.elements(named: "listen"), newListens = new.elements(named: "listen")
        guard oldListens.count == newListens.count else { throw refuse("cannot change the number of listen addresses on '\(type)' graphics") }
        for (was, now) in zip(oldListens, newListens) {
            let kind = now[attribute: "type"] ?? "address"
            guard (was[attribute: "type"] ?? "address") == kind else { throw refuse("cannot change the type of listen address on '\(type)' graphics") }
            switch kind {
            case "address", "network":
                let key = kind == "address" ? "address" : "network"
                if was[attribute: key] != now[attribute: key] { throw refuse("cannot change listen address setting on '\(type)' graphics") }
            case "socket":
                if was[attribute: "socket"] != now[attribute: "socket"] { throw refuse("cannot change listen socket setting on '\(type)' graphics") }
            default:
                break
            }
        }
        switch newServer.type {
        case .vnc, .spice:
            let portsDiffer = oldServer.autoport != newServer.autoport
                || (!newServer.autoport && (oldServer.port != newServer.port || (newServer.type == .spice && oldServer.spice.tlsPort != newServer.spice.tlsPort)))
            if portsDiffer { throw refuse("cannot change port settings on \(type) graphics") }
            if oldServer.keymap != newServer.keymap { throw refuse("cannot change keymap setting on \(type) graphics") }
        default:
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to change config on '\(type)' graphics type")
        }
    }
}

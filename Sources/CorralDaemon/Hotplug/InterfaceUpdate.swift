import CorralJSON
import CorralNetwork
import CorralProtocol
import DomainXML
import QMP
import XMLTree

/// `update-device` of a running guest's interface (`virsh domif-setlink`): its link state, with
/// QMP `set_link`, and its port's isolation on its bridge; any other change is refused, as libvirt refuses what it cannot change live.
/// The caller holds the domain's job.
extension DomainDriver {
    nonisolated func updateLiveInterface(_ element: XMLElement, of record: DomainRecord) async throws(RemoteError) -> XMLElement {
        let (guest, live, interfaces, index) = try liveDevice(element, of: record)
        let old = interfaces[index]
        guard let alias = old.element(named: "alias")?[attribute: "name"] else { throw RemoteError(code: .internalError, domain: .qemu, detail: "the interface has no alias") }
        // What may differ: the link state and the port's isolation (and what the daemon adds:
        // the tap's name, the network's bridge and port, when the new XML does not say them).
        let newSource = element.element(named: "source")
        func comparable(_ interface: XMLElement) -> XMLElement {
            var interface = interface
            interface.children = interface.children.compactMap { node in
                guard case .element(var e) = node, e.namespace == nil else { return nil }
                if ["alias", "address", "link", "port"].contains(e.name) { return nil }
                if (e.name == "mac" || e.name == "target") && element.element(named: e.name) == nil { return nil }
                if e.name == "source", let newSource { e.attributes.removeAll { attribute in newSource[attribute: attribute.name] == nil } }
                return .element(e)
            }
            return interface
        }
        let oldModel = old.element(named: "model")?[attribute: "type"], newModel = element.element(named: "model")?[attribute: "type"]
        if let newModel, newModel != oldModel {
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "cannot modify network device model from \(oldModel ?? "default") to \(newModel)")
        }
        var normalized = element
        if normalized.element(named: "model") == nil, let model = old.element(named: "model") { normalized.children.append(.element(model)) }
        guard DomainXMLFormatter.format(comparable(normalized)) == DomainXMLFormatter.format(comparable(old)) else {
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "unable to change config on '\(old[attribute: "type"] ?? "")' network type: only the link state changes while the guest runs")
        }
        // The port's isolation on its bridge (libvirt's needIsolatedPortChange): the
        // interface's, else its network's.
        let oldIsolation = old.element(named: "port")?[attribute: "isolated"], newIsolation = element.element(named: "port")?[attribute: "isolated"]
        if oldIsolation != newIsolation {
            let type = old[attribute: "type"] ?? ""
            guard type == "network" || type == "bridge", let tap = old.element(named: "target")?[attribute: "dev"] else {
                throw RemoteError(
                    code: .configUnsupported, domain: .qemu,
                    detail: "interface \(old.element(named: "mac")?[attribute: "address"] ?? "") - <port isolated='yes'/> is not supported for network interfaces with type='\(type)'")
            }
            var isolated = newIsolation.map { $0 == "yes" }
            if isolated == nil, type == "network", let name = old.element(named: "source")?[attribute: "network"] {
                isolated = networks?.registry.network(named: name)?.definition.portIsolated
            }
            let on = isolated ?? false
            try await NetworkWork.run { () throws(NetworkError) in try NetworkHost.setPortIsolated(tap, on) }
        }
        let up = element.element(named: "link")?[attribute: "state"] != "down"
        do throws(QMPError) {
            _ = try await guest.qmp.execute("set_link", arguments: .object([("name", .string(alias)), ("up", .bool(up))]))
        } catch {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'set_link': \(error.message)")
        }
        var changed = old
        // The new <port> in the old one's place (after the bandwidth, before the model).
        changed.children.removeAll { if case .element(let e) = $0, e.name == "port", e.namespace == nil { true } else { false } }
        if let port = element.element(named: "port") {
            let position = (changed.children.firstIndex { if case .element(let e) = $0, e.name == "model" { true } else { false } }) ?? changed.children.count
            changed.children.insert(.element(XMLElement(name: "port", attributes: port.attributes)), at: position)
        }
        changed.children.removeAll { if case .element(let e) = $0, e.name == "link", e.namespace == nil { true } else { false } }
        if !up {
            let position = (changed.children.firstIndex { if case .element(let e) = $0, e.name == "model" { true } else { false } }).map { $0 + 1 } ?? changed.children.count
            changed.children.insert(.element(XMLElement(name: "link", attributes: [XMLAttribute(name: "state", value: "down")])), at: position)
        }
        let document = DeviceXML.replacing("interface", at: index, with: changed, in: live.document)
        registry.updateGuest(record.uuid) { guest in guest.liveXML = DomainXMLFormatter.format(document, id: Int(guest.id)) }
        await liveXMLChanged(record.uuid)
        return changed
    }
}

extension DomainDriver {
    /// For a live update: the running guest, its live document, its devices of `element`'s
    /// name, and the index of the one `element` names (libvirt's matching and messages).
    nonisolated func liveDevice(
        _ element: XMLElement, of record: DomainRecord
    ) throws(RemoteError) -> (guest: GuestRuntime, live: ParsedDomain, devices: [XMLElement], index: Int) {
        guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
        let live = try liveDocument(guest)
        let devices = DeviceXML.devices(named: element.name, in: live.document)
        return (guest, live, devices, try DeviceProcedures.matched(element, among: devices, live: true))
    }
}

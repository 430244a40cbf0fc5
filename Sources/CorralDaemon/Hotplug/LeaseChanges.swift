import CorralProtocol
import DomainXML
import XMLTree

extension DomainDriver {
    /// Attaches or detaches a `<lease>` on the running guest. There is no lock manager (as with
    /// libvirt's default `nop` one), so only the live document changes; QEMU is not involved.
    func changeLeaseLive(_ change: DeviceProcedures.Change, _ lease: XMLElement, of record: DomainRecord) async throws(RemoteError) {
        guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
        let live = try liveDocument(guest).document
        let document: XMLElement
        switch change {
        case .attach:
            try Self.checkLeaseIsNew(lease, in: live)
            document = DeviceXML.inserting(lease, into: live)
        case .detach:
            document = DeviceXML.removing("lease", at: try DeviceProcedures.matched(lease, among: DeviceXML.devices(named: "lease", in: live), live: true), from: live)
        case .update:
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "live update of device 'lease' is not supported")
        }
        let parsed: ParsedDomain
        do throws(DomainXMLError) {
            parsed = try DomainXMLParser.parse(document, options: liveOptions)
        } catch {
            throw RemoteError(domainXMLError: error)
        }
        registry.updateGuest(record.uuid) { guest in guest.liveXML = DomainXMLFormatter.format(parsed.document, id: Int(guest.id)) }
        await liveXMLChanged(record.uuid)
    }

    /// libvirt's refusal of a lease the document already has (the same key in the same lock space).
    nonisolated static func checkLeaseIsNew(_ lease: XMLElement, in document: XMLElement) throws(RemoteError) {
        if case .found = DeviceXML.match(lease, among: DeviceXML.devices(named: "lease", in: document), live: false) {
            let (key, lockspace) = DeviceXML.leaseName(lease)
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "Lease \(key) in lockspace \(lockspace) already exists")
        }
    }
}

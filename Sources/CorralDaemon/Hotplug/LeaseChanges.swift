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
            document = DeviceXML.removing("lease", at: try Self.leaseIndex(lease, in: live), from: live)
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
        let (key, lockspace) = leaseName(lease)
        if DeviceXML.devices(named: "lease", in: document).contains(where: { leaseName($0) == (key, lockspace) }) {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "Lease \(key) in lockspace \(lockspace) already exists")
        }
    }

    /// The position among the document's leases of the one `lease` names, or libvirt's error.
    nonisolated static func leaseIndex(_ lease: XMLElement, in document: XMLElement) throws(RemoteError) -> Int {
        let (key, lockspace) = leaseName(lease)
        guard let index = DeviceXML.devices(named: "lease", in: document).firstIndex(where: { leaseName($0) == (key, lockspace) }) else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "Lease \(key) in lockspace \(lockspace) does not exist")
        }
        return index
    }

    /// What names a lease: its key and lock space.
    nonisolated static func leaseName(_ lease: XMLElement) -> (key: String, lockspace: String) {
        (lease.element(named: "key")?.text ?? "", lease.element(named: "lockspace")?.text ?? "")
    }
}

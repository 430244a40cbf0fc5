import CorralProtocol
import DomainXML

/// `dumpxml --migratable` (`VIR_DOMAIN_XML_MIGRATABLE`): a running guest's document without what
/// its run added (or, with `--inactive` or for an inactive domain, the definition), in libvirt's
/// migratable form. Secrets stay, as libvirt's migratable XML keeps them (it implies
/// `VIR_DOMAIN_XML_SECURE`, so a read-only connection is refused it).
enum MigratableXML {
    static func describe(_ record: DomainRecord, inactive: Bool, options: DomainXMLOptions) throws(RemoteError) -> String {
        do throws(DomainXMLError) {
            if !inactive, let guest = record.runtime { return try running(guest, options: options) }
            return DomainXMLFormatter.format(DomainMigratableForm.of(try DomainXMLParser.parse(record.xml, options: options).document))
        } catch {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "the domain's document does not parse: \(error)")
        }
    }

    /// A running guest's migratable XML, which `dumpxml --migratable`, save images and
    /// migrations carry: its live document read as a definition (the run's node numbers go),
    /// without what the run added.
    static func running(_ guest: GuestRuntime, options: DomainXMLOptions) throws(DomainXMLError) -> String {
        let live = try DomainXMLParser.parse(guest.liveXML, options: options)
        return DomainXMLFormatter.format(DomainMigratableForm.of(LiveDomainXML.inactiveForm(live.document, added: guest.runAdditions)))
    }
}

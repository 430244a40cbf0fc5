import CorralProtocol
import DomainXML
import XMLTree

/// `dumpxml --migratable` (`VIR_DOMAIN_XML_MIGRATABLE`): a running guest's document without what
/// its run added (or, with `--inactive` or for an inactive domain, the definition), in libvirt's
/// migratable form. Secrets stay, as libvirt's migratable XML keeps them (it implies
/// `VIR_DOMAIN_XML_SECURE`, so a read-only connection is refused it).
enum MigratableXML {
    static func describe(_ record: DomainRecord, inactive: Bool, options: DomainXMLOptions) throws(RemoteError) -> String {
        var document: XMLElement
        do throws(DomainXMLError) {
            if !inactive, let guest = record.runtime {
                // Read as a definition, as a save image's is: the run's node numbers go.
                document = LiveDomainXML.inactiveForm(try DomainXMLParser.parse(guest.liveXML, options: options).document, added: guest.runAdditions)
            } else {
                document = try DomainXMLParser.parse(record.xml, options: options).document
            }
        } catch {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "the domain's document does not parse: \(error)")
        }
        return DomainXMLFormatter.format(DomainMigratableForm.of(document))
    }
}

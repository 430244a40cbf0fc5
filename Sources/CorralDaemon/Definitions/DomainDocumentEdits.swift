import CorralProtocol
import DomainXML
import XMLTree

/// Changes to a domain's documents in place of a whole new definition: the persistent one
/// (parsed again, so it is checked as any definition is, and stored) and a running guest's live
/// one. Callers hold the domain's job.
enum DomainDocumentEdits {
    /// `xml` (a live document) with `change` applied; unchanged if it does not parse.
    static func editingLive(_ xml: String, id: Int32, _ change: (inout XMLElement) -> Void) -> String {
        guard var document = try? XMLTreeParser.parse(xml) else { return xml }
        change(&document)
        return DomainXMLFormatter.format(document, id: Int(id))
    }

    /// Writes the persistent definition with `change` applied (parsed again, so it is checked
    /// as any definition is).
    static func redefine(_ record: DomainRecord, registry: DomainRegistry, options: DomainXMLOptions, _ change: @escaping @Sendable (inout XMLElement) -> Void) async throws(RemoteError) {
        let xml = record.xml
        try await BlockingWork.run { () throws(RemoteError) in
            let parsed: ParsedDomain
            do throws(DomainXMLError) {
                var document = try DomainXMLParser.parse(xml, options: options).document
                change(&document)
                parsed = try DomainXMLParser.parse(DomainXMLFormatter.format(document), options: options)
            } catch {
                throw RemoteError(domainXMLError: error)
            }
            _ = try registry.define(parsed)
        }
    }
}

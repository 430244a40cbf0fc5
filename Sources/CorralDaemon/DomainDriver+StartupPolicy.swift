import CorralProtocol
import DomainXML
import Logging

extension DomainDriver {
    /// The document this start runs, with `<source startupPolicy>` applied
    /// (``DiskStartupPolicy``): `live` (or the persistent definition) unchanged when every disk's
    /// source is there or no policy lets the start go on without it; else without the missing
    /// media and disks, each reported to clients as libvirt reports it (a disk-change event).
    /// Blocking checks run off the event loops.
    func applyingStartupPolicies(to live: ParsedDomain?, of record: DomainRecord, coldBoot: Bool) async throws(RemoteError) -> ParsedDomain? {
        let definition = live?.definition ?? record.definition
        guard definition.devices.disks.contains(where: { $0.startupPolicy != nil }) else { return live }
        let drops = try await BlockingWork.run { () throws(RemoteError) -> [DiskStartupPolicy.Drop] in DiskStartupPolicy.drops(in: definition, coldBoot: coldBoot, exists: DiskStartupPolicy.sourceExists) }
        guard !drops.isEmpty else { return live }
        // Read again as the start would read it, without the define-time checks it passed then.
        var readOptions = live == nil ? options : liveOptions
        readOptions.checksNewDefinitions = false
        let xml = live?.xml ?? record.xml
        let parsed = try DomainXMLParser.parseOrThrow(xml, options: readOptions)
        let edited = DomainXMLFormatter.format(DiskStartupPolicy.applying(drops, to: parsed.document))
        let result = try DomainXMLParser.parseOrThrow(edited, options: readOptions)
        // Last disk first, as libvirt checks them.
        for drop in drops.reversed() {
            logger.info("starting \(record.name) without the missing \(drop.source) (disk \(drop.alias), startupPolicy)")
            events.diskChanged(record.handle, oldSource: drop.source, newSource: nil, alias: drop.alias, reason: drop.removesDisk ? .dropMissingOnStart : .missingOnStart)
        }
        return result
    }
}

import CorralJSON
import CorralProtocol
import DomainXML
import QEMUCommandLine
import QMP
import XMLTree

/// `update-device` and `change-media` on a running guest: a CD-ROM's or floppy's medium
/// changed or ejected, as libvirt does it with `-blockdev` (open the tray, remove the medium,
/// add and insert the new one, close the tray). The caller holds the domain's job.
extension DomainDriver {
    /// `VIR_DOMAIN_DEVICE_MODIFY_FORCE`: open the tray even if the guest locked it.
    static let forceFlag: UInt32 = 4

    nonisolated func updateLive(_ element: XMLElement, of record: DomainRecord, force: Bool) async throws(RemoteError) -> XMLElement {
        guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
        if element.name == "interface" { return try await updateLiveInterface(element, of: record) }
        if element.name == "graphics" { return try await updateLiveGraphics(element, of: record) }
        guard element.name == "disk" else {
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "live update of device '\(element.name)' is not supported")
        }
        let live = try liveDocument(guest)
        let disks = DeviceXML.devices(named: "disk", in: live.document)
        guard case .found(let index) = DeviceXML.match(element, among: disks, live: true) else {
            throw RemoteError(code: .deviceMissing, domain: .qemu, detail: "disk \(element.element(named: "target")?[attribute: "dev"] ?? "") not found")
        }
        let old = disks[index], kind = old[attribute: "device"] ?? "disk"
        guard kind == "cdrom" || kind == "floppy" else {
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "cannot modify field 'source' of the disk: only the medium of a cdrom or floppy changes while the guest runs")
        }
        guard let alias = old.element(named: "alias")?[attribute: "name"], index < guest.devices.disks.count else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "the disk has no alias")
        }
        let oldNames = guest.devices.disks[index]
        // The new medium: the old element with the new <source> (and image format), and the
        // chain found in its headers below what the element describes, numbered as libvirt
        // numbers it (the layers found once, then the whole chain after them).
        func medium(_ found: BackingChainCheck.Detected?) -> XMLElement {
            var changed = old
            changed.children.removeAll { if case .element(let e) = $0, e.namespace == nil, e.name == "source" || e.name == "backingStore" { true } else { false } }
            if var source = element.element(named: "source") {
                let number = guest.devices.nextNodeIndex &+ UInt32(min(found?.layers.count ?? 0, 256))
                source[attribute: "index"] = String(number)
                var medium = XMLElement(name: "disk", children: [.element(source)] + (element.element(named: "backingStore").map { [.element($0)] } ?? []))
                if let found { LiveDomainXML.appendDetectedLayers(&medium, found.layers, ends: found.ends) }
                LiveDomainXML.numberBackingChain(&medium, from: number &+ 1)
                let at = changed.children.firstIndex { if case .element(let e) = $0, e.name == "target" { true } else { false } } ?? 0
                changed.children.insert(contentsOf: medium.children, at: at)
            }
            if let format = element.element(named: "driver")?[attribute: "type"] {
                changed.updateElements { if $0.name == "driver" && $0.namespace == nil { $0[attribute: "type"] = format } }
            }
            return changed
        }
        var changed = medium(nil)
        var document = DeviceXML.replacing("disk", at: index, with: changed, in: live.document)
        var updated = try HotplugPlan.parse(document, options: liveOptions)
        var resolved = try resolveVolumeDisks(updated.definition)
        var detectedChain: BackingChainCheck.Remembered?
        if element.element(named: "source") != nil {
            // The new medium's chain, checked as at start.
            let disk = resolved.devices.disks[index]
            let found = try await BlockingWork.run { () throws(RemoteError) -> BackingChainCheck.Detected? in
                try BackingChainCheck.check(disk, read: BackingChainCheck.readHeader)
            }
            detectedChain = found?.remembered ?? nil
            if let found {
                changed = medium(found)
                document = DeviceXML.replacing("disk", at: index, with: changed, in: live.document)
                updated = try HotplugPlan.parse(document, options: liveOptions)
                resolved = try resolveVolumeDisks(updated.definition)
            }
        }
        let names = try deviceNames(updated.definition, guest: guest)
        var blockdevs: [QEMUOption] = []
        if element.element(named: "source") != nil {
            do throws(CommandLineError) {
                blockdevs = try QEMUHotplug.options(
                    for: .disk(index), of: resolved, devices: names, context: makeContext(id: guest.id, directory: guest.runDirectory, definition: resolved)
                ).filter { $0.name == "-blockdev" }
            } catch {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: error.message)
            }
        }
        let qmp = guest.qmp
        func run(_ command: String, _ arguments: [(String, JSONValue)]) async throws(RemoteError) {
            do throws(QMPError) {
                _ = try await qmp.execute(command, arguments: .object(arguments))
            } catch {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command '\(command)': \(error.message)")
            }
        }
        try await run("blockdev-open-tray", [("id", .string(alias)), ("force", .bool(force))])
        // A guest that locked the tray is asked to open it; give it the time libvirt gives.
        var removed = false
        for _ in 0..<100 where !removed {
            do throws(RemoteError) {
                try await run("blockdev-remove-medium", [("id", .string(alias))])
                removed = true
            } catch {
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        guard removed else { throw RemoteError(code: .operationFailed, domain: .qemu, detail: "timed out waiting to open tray of '\(alias)'") }
        if !blockdevs.isEmpty {
            try await Self.plug(blockdevs, qmp: qmp)
            try await run("blockdev-insert-medium", [("id", .string(alias)), ("node-name", .string(names.disks[index].deviceNode))])
        }
        // Closed again, also when left empty, as libvirt leaves it.
        try await run("blockdev-close-tray", [("id", .string(alias))])
        if oldNames.source != nil {
            for node in oldNames.blockNodesTopDown { _ = try? await qmp.execute("blockdev-del", arguments: .object([("node-name", .string(node))])) }
        }
        // The tray is closed again (its events say the same, whichever comes first).
        var changedDocument = updated.document
        LiveDomainXML.setTray(&changedDocument, alias: alias, open: false)
        let finalDocument = changedDocument
        registry.updateGuest(record.uuid) { guest in
            guest.liveXML = DomainXMLFormatter.format(finalDocument, id: Int(guest.id))
            guest.devices = names
            // The new medium's chain (none when ejected) replaces the old one's.
            if let target = old.element(named: "target")?[attribute: "dev"] { guest.detectedChains[target] = detectedChain }
        }
        await liveXMLChanged(record.uuid)
        return changed
    }
}

import CorralJSON
import CorralProtocol
import CorralStorage
import DomainXML
import Glibc
import Logging
import QEMUCommandLine
import QMP
import XMLTree

/// External (disk-only) snapshots: each chosen disk gets a new qcow2 overlay whose backing file
/// is the image the disk used, and the disk writes to the overlay from then on; the old image
/// keeps the snapshot's state.
///
/// For a running guest the overlays are opened with `blockdev-add` and put on top of the disks
/// in one QMP `transaction` of `blockdev-snapshot` actions, so all disks switch at the same
/// instant or none does; `--quiesce` freezes the guest's file systems through its agent around
/// it. For a shut-off domain `qemu-img create -b` makes the overlays. Either way the
/// definition then names the overlays.
extension DomainDriver {
    /// One disk's overlay.
    private struct Overlay {
        var disk: Int
        var target: String
        var path: String
        var block: Bool
        var backing: String
        var backingFormat: String
        var node: UInt32
        var created = false
    }

    /// A running guest's disk-only snapshot. The caller holds the domain's job.
    func takeExternalSnapshot(_ snapshot: DomainSnapshot, of record: DomainRecord, guest: GuestRuntime, flags: SnapshotCreateFlags) async throws(RemoteError) {
        let live = try liveDocument(guest)
        let definition = try resolveVolumeDisks(live.definition)
        var overlays: [Overlay] = []
        var node = guest.devices.nextNodeIndex
        for (index, disk) in snapshot.disks.enumerated() where disk.location == .external {
            guard let path = disk.path, let backing = definition.devices.disks[index].source else { continue }
            overlays.append(Overlay(
                disk: index, target: disk.name, path: path, block: disk.sourceType == .block, backing: backing,
                backingFormat: definition.devices.disks[index].format ?? "raw", node: node))
            node = min(node, UInt32.max - 1) + 1
        }
        if flags.contains(.quiesce) {
            _ = try await GuestAgentCalls.run(record.handle, "guest-fsfreeze-freeze", registry: registry)
        }
        var added: [String] = []
        do throws(RemoteError) {
            for index in overlays.indices {
                let overlay = overlays[index]
                let names = guest.devices.disks[overlay.disk]
                if !flags.contains(.reuseExternal) {
                    let size = try await Self.virtualSize(of: names.formatNode, qmp: guest.qmp)
                    try await BlockingWork.run { () throws(RemoteError) in
                        do throws(StorageError) {
                            // `-u`: QEMU holds the backing image; its size is given instead of read.
                            try QemuImg.run(["create", "-f", "qcow2", "-F", overlay.backingFormat, "-b", overlay.backing, "-u", "--", overlay.path, String(size)])
                        } catch {
                            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot create the overlay \(overlay.path): \(error.message)")
                        }
                    }
                    overlays[index].created = true
                }
                let storage = "libvirt-\(overlay.node)-storage", format = "libvirt-\(overlay.node)-format"
                try await Self.monitorCommand("blockdev-add", [
                    ("driver", .string(overlay.block ? "host_device" : "file")), ("filename", .string(overlay.path)), ("node-name", .string(storage)),
                    ("auto-read-only", .bool(true)), ("discard", .string("unmap")),
                ], qmp: guest.qmp)
                added.append(storage)
                try await Self.monitorCommand("blockdev-add", [
                    ("node-name", .string(format)), ("read-only", .bool(false)), ("driver", .string("qcow2")), ("file", .string(storage)), ("backing", .null),
                ], qmp: guest.qmp)
                added.append(format)
            }
            let actions: [JSONValue] = overlays.map { overlay in
                .object([
                    ("type", .string("blockdev-snapshot")),
                    ("data", .object([("node", .string(guest.devices.disks[overlay.disk].formatNode)), ("overlay", .string("libvirt-\(overlay.node)-format"))])),
                ])
            }
            try await Self.monitorCommand("transaction", [("actions", .array(actions))], qmp: guest.qmp)
        } catch {
            for name in added.reversed() { _ = try? await guest.qmp.execute("blockdev-del", arguments: .object([("node-name", .string(name))])) }
            let created = overlays.filter(\.created).map(\.path)
            _ = try? await BlockingWork.run { for path in created { unlink(path) } }
            if flags.contains(.quiesce) { _ = try? await GuestAgentCalls.run(record.handle, "guest-fsfreeze-thaw", registry: registry) }
            throw error
        }
        if flags.contains(.quiesce) {
            do throws(RemoteError) { _ = try await GuestAgentCalls.run(record.handle, "guest-fsfreeze-thaw", registry: registry) } catch {
                logger.warning("cannot thaw the guest's file systems after a snapshot", metadata: ["name": "\(record.name)", "error": "\(error)"])
            }
        }
        // The guest writes to the overlays now: its documents say so.
        var document = live.document
        for overlay in overlays { Self.pointDisk(&document, target: overlay.target, to: overlay.path, block: overlay.block, index: overlay.node) }
        let updated = try DomainXMLParser.parseOrThrow(DomainXMLFormatter.format(document, id: Int(guest.id)), options: liveOptions)
        let names = try deviceNames(updated.definition, guest: guest)
        let decorated = LiveDomainXML.decorate(updated.document, devices: names)
        registry.updateGuest(record.uuid) { guest in
            guest.liveXML = DomainXMLFormatter.format(decorated, id: Int(guest.id))
            guest.devices = names
        }
        liveXMLChanged(record.uuid)
        // The persistent definition follows where it names the same images (libvirt's rule).
        if record.persistent {
            let persistent = try DomainXMLParser.parseOrThrow(record.xml, options: options).definition
            let same = overlays.filter { overlay in persistent.devices.disks.contains { $0.targetDevice == overlay.target && $0.source == overlay.backing } }
            if !same.isEmpty {
                try await DomainDocumentEdits.redefine(record, registry: registry, options: options) { document in
                    for overlay in same { Self.pointDisk(&document, target: overlay.target, to: overlay.path, block: overlay.block, index: nil) }
                }
                // Redefining marks a running domain's definition as changed; this change is the
                // same in both.
                registry.updateRuntime(record.uuid) { $0.updated = record.updated }
            }
        }
    }

    /// A shut-off domain's disk-only snapshot: overlays made with `qemu-img`, then the
    /// definition names them. The caller holds the domain's job.
    func takeInactiveExternalSnapshot(_ snapshot: DomainSnapshot, of record: DomainRecord, disks definition: DomainDefinition, reuse: Bool) async throws(RemoteError) {
        var overlays: [Overlay] = []
        for (index, disk) in snapshot.disks.enumerated() where disk.location == .external {
            guard let path = disk.path, let backing = definition.devices.disks[index].source else { continue }
            overlays.append(Overlay(
                disk: index, target: disk.name, path: path, block: disk.sourceType == .block, backing: backing,
                backingFormat: definition.devices.disks[index].format ?? "raw", node: 0))
        }
        if !reuse {
            let planned = overlays
            try await BlockingWork.run { () throws(RemoteError) in
                var created: [String] = []
                for overlay in planned {
                    do throws(StorageError) {
                        try QemuImg.run(["create", "-f", "qcow2", "-F", overlay.backingFormat, "-b", overlay.backing, "--", overlay.path])
                        created.append(overlay.path)
                    } catch {
                        for path in created { unlink(path) }
                        throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot create the overlay \(overlay.path): \(error.message)")
                    }
                }
            }
        }
        let chosen = overlays
        do throws(RemoteError) {
            try await DomainDocumentEdits.redefine(record, registry: registry, options: options) { document in
                for overlay in chosen { Self.pointDisk(&document, target: overlay.target, to: overlay.path, block: overlay.block, index: nil) }
            }
        } catch {
            if !reuse { _ = try? await BlockingWork.run { for overlay in chosen { unlink(overlay.path) } } }
            throw error
        }
    }

    /// Points the disk with `target` in a domain document at a qcow2 image `path` (a file or
    /// block device), with its block node number when given (a live document).
    static func pointDisk(_ document: inout XMLElement, target: String, to path: String, block: Bool, index: UInt32?) {
        document.updateElements { devices in
            guard devices.name == "devices", devices.namespace == nil else { return }
            devices.updateElements { disk in
                guard disk.name == "disk", disk.namespace == nil, disk.element(named: "target")?[attribute: "dev"] == target else { return }
                // A chain the document describes (or ends with `<backingStore/>`) now starts
                // with the old image: kept as it was, the overlay would lose what is below it.
                if let chain = disk.element(named: "backingStore"), var oldSource = disk.element(named: "source") {
                    var layer = XMLElement(name: "backingStore", attributes: [XMLAttribute(name: "type", value: disk[attribute: "type"] ?? "file")])
                    if let number = oldSource[attribute: "index"] { layer[attribute: "index"] = number }
                    oldSource[attribute: "index"] = nil
                    oldSource[attribute: "startupPolicy"] = nil
                    let format = disk.element(named: "driver")?[attribute: "type"] ?? "raw"
                    layer.children = [.element(XMLElement(name: "format", attributes: [XMLAttribute(name: "type", value: format)])), .element(oldSource), .element(chain)]
                    disk.children = disk.children.map { node in
                        if case .element(let e) = node, e.namespace == nil, e.name == "backingStore" { return .element(layer) }
                        return node
                    }
                }
                disk[attribute: "type"] = block ? "block" : "file"
                var source = XMLElement(name: "source", attributes: [XMLAttribute(name: block ? "dev" : "file", value: path)])
                if let index { source[attribute: "index"] = String(index) }
                var driver = disk.element(named: "driver") ?? XMLElement(name: "driver", attributes: [XMLAttribute(name: "name", value: "qemu")])
                driver[attribute: "type"] = "qcow2"
                disk.children.removeAll { if case .element(let e) = $0, e.namespace == nil, e.name == "source" || e.name == "driver" { true } else { false } }
                // libvirt's order: driver, then source, at the top of the disk.
                disk.children.insert(contentsOf: [.element(driver), .element(source)], at: 0)
            }
        }
    }

    /// The virtual size of a block node, from QEMU.
    private static func virtualSize(of node: String, qmp: QMPClient) async throws(RemoteError) -> UInt64 {
        let nodes: JSONValue
        do throws(QMPError) {
            nodes = try await qmp.execute("query-named-block-nodes", arguments: .object([("flat", .bool(true))]))
        } catch {
            throw monitorError(error)
        }
        guard let size = nodes.arrayValue?.first(where: { $0["node-name"]?.stringValue == node })?["image"]?["virtual-size"]?.uint64Value else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot find the size of block node '\(node)'")
        }
        return size
    }

    /// One QMP command whose failure is the client's error, in QEMU's words.
    private static func monitorCommand(_ command: String, _ arguments: [(String, JSONValue)], qmp: QMPClient) async throws(RemoteError) {
        do throws(QMPError) {
            _ = try await qmp.execute(command, arguments: .object(arguments))
        } catch {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command '\(command)': \(error.message)")
        }
    }
}

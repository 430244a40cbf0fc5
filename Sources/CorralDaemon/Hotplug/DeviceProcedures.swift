import CorralProtocol
import DomainXML
import XDR
import XMLTree

/// `attach-device`, `detach-device`, `update-device` and `detach-device-alias` (and virsh's
/// `attach-disk`, `attach-interface`, `change-media`, … built on them), each in the domain's
/// job, on the running guest (`--live`), its persistent definition (`--config`) or both, with
/// libvirt's flag rules and messages.
enum DeviceProcedures {
    static let live = ModificationImpact.liveFlag, config = ModificationImpact.configFlag

    enum Change: String {
        case attach, detach, update
    }

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, driver: DomainDriver) {
        @Sendable func change(_ change: Change, _ handle: RemoteDomain, _ xml: String, flags: UInt32, function: String) async throws(RemoteError) {
            let allowed = change == .update ? live | config | DomainDriver.forceFlag : live | config
            try DomainProcedures.checkFlags(flags, allowed: allowed, function: function)
            let name = try registry.record(for: handle).name
            try await driver.jobs.run(name, "\(change.rawValue) device") { () async throws(RemoteError) in
                let record = try registry.record(for: handle)
                let impact = try ModificationImpact(flags: flags, record: record)
                let device: XMLElement
                do throws(DomainXMLError) {
                    device = try DeviceXML.parse(xml, limits: driver.options.limits)
                } catch {
                    throw RemoteError(domainXMLError: error)
                }
                // The definition's side is checked before the guest is touched, and stored after.
                var configDocument = impact.config ? try configEdit(change, device, record: record, driver: driver) : nil
                if impact.live && device.name == "lease" {
                    try await driver.changeLeaseLive(change, device, of: record)
                } else if impact.live {
                    switch change {
                    case .attach:
                        let plugged = try await driver.attachLive(device, to: record)
                        // The same root port in the definition, so the device comes back there.
                        if let address = plugged.element(named: "address"), device.element(named: "address") == nil, let document = configDocument {
                            var withAddress = device
                            withAddress.children.append(.element(address))
                            configDocument = try configEdit(change, withAddress, record: record, driver: driver, document: document.original)
                        }
                    case .detach:
                        guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
                        let liveDocument = try driver.liveDocument(guest)
                        let elements = DeviceXML.devices(named: device.name, in: liveDocument.document)
                        let index = try matched(device, among: elements, live: true)
                        guard let alias = elements[index].element(named: "alias")?[attribute: "name"] else {
                            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "the device has no alias")
                        }
                        try await driver.detachLive(alias: alias, name: device.name, from: record, waits: true)
                    case .update:
                        _ = try await driver.updateLive(device, of: record, force: flags & DomainDriver.forceFlag != 0)
                    }
                }
                if let configDocument { try await define(configDocument.edited, registry: registry, options: driver.options) }
            }
        }
        table.registerAsync(Remote.DomainAttachDevice.self) { arguments, _ throws(RemoteError) in
            try await change(.attach, arguments.dom, arguments.xml, flags: live, function: "qemuDomainAttachDeviceFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainAttachDeviceFlags.self) { arguments, _ throws(RemoteError) in
            try await change(.attach, arguments.dom, arguments.xml, flags: arguments.flags, function: "qemuDomainAttachDeviceFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainDetachDevice.self) { arguments, _ throws(RemoteError) in
            try await change(.detach, arguments.dom, arguments.xml, flags: live, function: "qemuDomainDetachDeviceFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainDetachDeviceFlags.self) { arguments, _ throws(RemoteError) in
            try await change(.detach, arguments.dom, arguments.xml, flags: arguments.flags, function: "qemuDomainDetachDeviceFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainUpdateDeviceFlags.self) { arguments, _ throws(RemoteError) in
            try await change(.update, arguments.dom, arguments.xml, flags: arguments.flags, function: "qemuDomainUpdateDeviceFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainDetachDeviceAlias.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: live | config, function: "qemuDomainDetachDeviceAlias")
            let name = try registry.record(for: arguments.dom).name
            try await driver.jobs.run(name, "detach device") { () async throws(RemoteError) in
                let record = try registry.record(for: arguments.dom)
                let impact = try ModificationImpact(flags: arguments.flags, record: record)
                var configDocument: XMLElement?
                if impact.config {
                    let document = try parsedConfig(record, options: driver.options).document
                    guard let (element, index) = DeviceXML.position(ofAlias: arguments.alias, in: document) else {
                        throw RemoteError(code: .deviceMissing, domain: .qemu, detail: "no device found with alias \(arguments.alias)")
                    }
                    configDocument = DeviceXML.removing(element, at: index, from: document)
                }
                if impact.live {
                    guard let guest = record.runtime, let (element, _) = DeviceXML.position(ofAlias: arguments.alias, in: try driver.liveDocument(guest).document) else {
                        throw RemoteError(code: .deviceMissing, domain: .qemu, detail: "no device found with alias \(arguments.alias)")
                    }
                    // libvirt's alias detach does not wait: the removal event says when it is done.
                    try await driver.detachLive(alias: arguments.alias, name: element, from: record, waits: false)
                }
                if let configDocument { try await define(configDocument, registry: registry, options: driver.options) }
            }
            return XDRVoid()
        }
    }

    /// The index among `elements` of the device `device` names, or libvirt's error.
    static func matched(_ device: XMLElement, among elements: [XMLElement], live: Bool) throws(RemoteError) -> Int {
        switch DeviceXML.match(device, among: elements, live: live) {
        case .found(let index): return index
        case .missing(let message): throw RemoteError(code: .deviceMissing, domain: .qemu, detail: message)
        case .ambiguous(let message): throw RemoteError(code: .operationFailed, domain: .qemu, detail: message)
        }
    }

    static func parsedConfig(_ record: DomainRecord, options: DomainXMLOptions) throws(RemoteError) -> ParsedDomain {
        do throws(DomainXMLError) {
            return try DomainXMLParser.parse(record.xml, options: options)
        } catch {
            throw RemoteError(domainXMLError: error)
        }
    }

    /// The persistent definition with the change made, checked (parsed again) but not stored.
    static func configEdit(
        _ change: Change, _ device: XMLElement, record: DomainRecord, driver: DomainDriver, document: XMLElement? = nil
    ) throws(RemoteError) -> (original: XMLElement, edited: XMLElement) {
        let original: XMLElement
        if let document { original = document } else { original = try parsedConfig(record, options: driver.options).document }
        let existing = DeviceXML.devices(named: device.name, in: original)
        let edited: XMLElement
        switch change {
        case .attach:
            if device.name == "disk", let target = device.element(named: "target")?[attribute: "dev"],
                existing.contains(where: { $0.element(named: "target")?[attribute: "dev"] == target }) {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "target \(target) already exists")
            }
            if device.name == "lease" { try DomainDriver.checkLeaseIsNew(device, in: original) }
            edited = DeviceXML.inserting(device, into: original)
        case .detach:
            edited = DeviceXML.removing(device.name, at: try matched(device, among: existing, live: false), from: original)
        case .update:
            // (A display that is not there is an invalid argument, as libvirt says it.)
            if device.name == "graphics", case .missing(let message) = DeviceXML.match(device, among: existing, live: false) {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: message)
            }
            let index = try matched(device, among: existing, live: false)
            edited = DeviceXML.editing(device.name, at: index, in: original) { old in
                guard device.name == "disk" else { return device }
                // A disk keeps what it was and takes the new medium (and format).
                var disk = old
                disk.children.removeAll { if case .element(let e) = $0, e.namespace == nil, e.name == "source" { true } else { false } }
                if let source = device.element(named: "source") {
                    disk.children.insert(.element(source), at: disk.children.firstIndex { if case .element(let e) = $0, e.name == "target" { true } else { false } } ?? 0)
                }
                if let format = device.element(named: "driver")?[attribute: "type"] {
                    disk.updateElements { if $0.name == "driver" && $0.namespace == nil { $0[attribute: "type"] = format } }
                }
                return disk
            }
        }
        do throws(DomainXMLError) {
            _ = try DomainXMLParser.parse(edited, options: driver.options)
        } catch {
            throw RemoteError(domainXMLError: error)
        }
        return (original, edited)
    }

    /// Stores `document` as the domain's definition (journaled by the calling event loop, as a
    /// define is).
    static func define(_ document: XMLElement, registry: DomainRegistry, options: DomainXMLOptions) async throws(RemoteError) {
        let parsed: ParsedDomain
        do throws(DomainXMLError) {
            parsed = try DomainXMLParser.parse(DomainXMLFormatter.format(document), options: options)
        } catch {
            throw RemoteError(domainXMLError: error)
        }
        _ = try await registry.defineFromEventLoop(parsed)
    }
}

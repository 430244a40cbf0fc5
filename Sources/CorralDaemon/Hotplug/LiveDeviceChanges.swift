import CorralJSON
import CorralProtocol
import DomainXML
import Glibc
import Logging
import QEMUCommandLine
import QMP
import XMLTree

/// Hot-plugging and unplugging devices of running guests. The caller holds the domain's job.
///
/// A device is plugged as the command line would have it (``QEMUHotplug``): its backends first
/// (`blockdev-add`, `netdev_add`, `object-add`), then `device_add`; whatever was added is taken
/// back if a later step fails. An unplug sends `device_del` and waits, as libvirt does, for
/// `DEVICE_DELETED` for at most ``unplugTimeout``; the device's backends and its place in the live
/// document go when QEMU says the device is gone, whoever is waiting by then.
extension DomainDriver {
    /// libvirt's `qemuDomainGetUnplugTimeout` on x86: 5 s.
    static let unplugTimeout: Duration = .seconds(5)

    /// The live document of `guest`, with its run-time details.
    nonisolated func liveDocument(_ guest: GuestRuntime) throws(RemoteError) -> ParsedDomain {
        do throws(DomainXMLError) {
            return try DomainXMLParser.parse(guest.liveXML, options: liveOptions)
        } catch {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "the running guest's document does not parse: \(error)")
        }
    }

    /// The device names of `live` for `guest`, keeping the pseudo-terminals QEMU gave (by alias).
    nonisolated func deviceNames(_ live: DomainDefinition, guest: GuestRuntime) throws(RemoteError) -> GuestDevices {
        var names = GuestDevices(try resolveVolumeDisks(live), runDirectory: guest.runDirectory)
        for index in names.characterDevices.indices where names.characterDevices[index].type == .pty {
            let device = names.characterDevices[index]
            names.characterDevices[index].path = guest.devices.characterDevices.first { $0.role == device.role && $0.alias == device.alias }?.path
        }
        return names
    }

    /// Plugs `element` (a parsed device element) into the running guest; returns the element as
    /// the live document now holds it.
    nonisolated func attachLive(_ element: XMLElement, to record: DomainRecord) async throws(RemoteError) -> XMLElement {
        guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
        var element = element
        var usedNodeNumbers: UInt32 = 0
        var detectedChain: (target: String, chain: BackingChainCheck.Remembered?)?
        if element.name == "disk", element.namespace == nil {
            // The chain in the disk's image headers, checked, becomes part of the element, as at
            // start: QEMU is told each layer and its format, and the live XML lists them.
            let preliminary = try HotplugPlan(element, live: try liveDocument(guest), devices: guest.devices, options: liveOptions)
            if case .disk(let index) = preliminary.device {
                let disk = try resolveVolumeDisks(preliminary.live.definition).devices.disks[index]
                let found = try await BlockingWork.run { () throws(RemoteError) -> BackingChainCheck.Detected? in
                    try BackingChainCheck.check(disk, read: BackingChainCheck.readHeader)
                }
                if let found {
                    LiveDomainXML.appendDetectedLayers(&element, found.layers, ends: found.ends)
                    usedNodeNumbers = UInt32(found.layers.count)
                }
                detectedChain = (disk.targetDevice, found?.remembered ?? nil)
            }
        }
        let plan = try HotplugPlan(element, live: try liveDocument(guest), devices: guest.devices, options: liveOptions, usedNodeNumbers: usedNodeNumbers)
        let resolved = try resolveVolumeDisks(plan.live.definition)
        var names = try deviceNames(plan.live.definition, guest: guest)
        var context = makeContext(id: guest.id, directory: guest.runDirectory, definition: resolved)
        if case .disk(let index) = plan.device { context.diskSecrets = try diskSecrets(resolved, only: index) }
        // A network, bridge or ethernet interface gets its port and tap first, as at start; a
        // direct one its macvtap, whose tap descriptors QEMU's monitor takes by name (`getfd`).
        var connection: CommandLineContext.InterfaceConnection?
        if case .interface(let index) = plan.device, Self.daemonConnects(resolved.devices.interfaces[index]) {
            let made = try await connectInterfaces(DomainDefinition.with(interface: resolved.devices.interfaces[index], of: resolved))
            connection = made[0]
            if let made = connection, !made.openDescriptors.isEmpty {
                connection = try await handOverTapDescriptors(made, alias: names.interfaces[index].alias, qmp: guest.qmp)
            }
            if let connection {
                context.interfaceConnections[index] = connection
                names.interfaces[index].connection = connection
            }
        }
        let options: [QEMUOption]
        do throws(CommandLineError) {
            options = try QEMUHotplug.options(for: plan.device, of: resolved, devices: names, context: context)
        } catch {
            if let connection { await disconnectInterfaces([connection]) }
            throw RemoteError(code: error.kind == .unsupported ? .configUnsupported : .internalError, domain: .qemu, detail: error.message)
        }
        // A transient disk's overlay, made before QEMU opens it.
        var overlays: [TransientOverlays.Planned] = []
        if case .disk(let index) = plan.device {
            overlays = try TransientOverlays.plan([resolved.devices.disks[index]], domainName: resolved.name)
            let planned = overlays
            if !planned.isEmpty { try await BlockingWork.run { () throws(RemoteError) in try TransientOverlays.create(planned) } }
        }
        do throws(RemoteError) {
            // A watchdog's action is QEMU's, set before the device comes (libvirt's order).
            if case .watchdog(let index) = plan.device {
                let action = resolved.devices.watchdogs[index].action.qemuAction
                do throws(QMPError) {
                    _ = try await guest.qmp.execute("set-action", arguments: .object([("watchdog", .string(action))]))
                } catch {
                    throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'set-action': \(error.message)")
                }
            }
            try await Self.plug(options, qmp: guest.qmp)
        } catch {
            if let connection {
                await Self.closeNamedDescriptors(connection.qemuDescriptors, qmp: guest.qmp)
                await disconnectInterfaces([connection])
            }
            let made = overlays.map(\.overlay)
            if !made.isEmpty { _ = try? await BlockingWork.run { TransientOverlays.remove(made) } }
            throw error
        }
        if plan.element.name == "interface", plan.element.element(named: "link")?[attribute: "state"] == "down" {
            _ = try? await guest.qmp.execute("set_link", arguments: .object([("name", .string(plan.alias)), ("up", .bool(false))]))
        }
        var plugged = names
        if plan.element.name == "channel", plan.element[attribute: "type"] == "pty" { await Self.assignPseudoTerminals(&plugged, qmp: guest.qmp) }
        let document = LiveDomainXML.decorate(plan.live.document, devices: plugged)
        registry.updateGuest(record.uuid) { guest in
            guest.liveXML = DomainXMLFormatter.format(document, id: Int(guest.id))
            guest.devices = plugged
            if let detectedChain { guest.detectedChains[detectedChain.target] = detectedChain.chain }
        }
        await liveXMLChanged(record.uuid)
        events.deviceAdded(record.handle, alias: plan.alias)
        return plan.element
    }

    /// Gives QEMU's monitor a hot-plugged macvtap's tap descriptors by name (`getfd`) and
    /// closes the daemon's copies; returns the connection naming them for the netdev. On a
    /// failure the names QEMU took are closed and the macvtap goes.
    private func handOverTapDescriptors(
        _ connection: CommandLineContext.InterfaceConnection, alias: String, qmp: QMPClient
    ) async throws(RemoteError) -> CommandLineContext.InterfaceConnection {
        var named = connection
        named.openDescriptors = []
        defer { for descriptor in connection.openDescriptors { close(descriptor) } }
        do throws(QMPError) {
            for (number, descriptor) in connection.openDescriptors.enumerated() {
                let name = "tap-\(alias)-\(number)"
                _ = try await qmp.execute("getfd", arguments: .object([("fdname", .string(name))]), passing: descriptor)
                named.qemuDescriptors.append(name)
            }
        } catch {
            await Self.closeNamedDescriptors(named.qemuDescriptors, qmp: qmp)
            await disconnectInterfaces([named])
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'getfd': \(error.message)")
        }
        return named
    }

    /// Closes descriptors QEMU's monitor holds by name that no netdev took.
    nonisolated static func closeNamedDescriptors(_ names: [String], qmp: QMPClient) async {
        for name in names { _ = try? await qmp.execute("closefd", arguments: .object([("fdname", .string(name))])) }
    }

    /// Runs the QMP commands of `options` in order; on a failure, takes back what was added.
    nonisolated static func plug(_ options: [QEMUOption], qmp: QMPClient) async throws(RemoteError) {
        var undo: [(String, JSONValue)] = []
        for option in options {
            guard case .json(let value)? = option.argument else { continue }
            let command: String
            let reverse: (String, JSONValue)?
            switch option.name {
            case "-blockdev":
                command = "blockdev-add"
                reverse = value["node-name"]?.stringValue.map { ("blockdev-del", .object([("node-name", .string($0))])) }
            case "-netdev":
                command = "netdev_add"
                reverse = value["id"]?.stringValue.map { ("netdev_del", .object([("id", .string($0))])) }
            case "-object":
                command = "object-add"
                reverse = value["id"]?.stringValue.map { ("object-del", .object([("id", .string($0))])) }
            case "-chardev":
                command = "chardev-add"
                reverse = value["id"]?.stringValue.map { ("chardev-remove", .object([("id", .string($0))])) }
            case "-device":
                command = "device_add"
                reverse = nil
            default:
                continue
            }
            do throws(QMPError) {
                _ = try await qmp.execute(command, arguments: value)
            } catch {
                for (command, arguments) in undo.reversed() { _ = try? await qmp.execute(command, arguments: arguments) }
                throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command '\(command)': \(error.message)")
            }
            if let reverse { undo.append(reverse) }
        }
    }

    /// The QMP commands that free a device's backends once QEMU has let the device go.
    nonisolated static func backendRemovals(of name: String, at index: Int, live: DomainDefinition, devices: GuestDevices) -> [(String, JSONValue)] {
        switch name {
        case "disk":
            // A vhost-user disk's socket chardev (it has no block nodes).
            if index < live.devices.disks.count, live.devices.disks[index].type == .vhostuser, index < devices.disks.count {
                return [("chardev-remove", .object([("id", .string(DeviceAliases.vhostUserChardev(devices.disks[index].alias)))]))]
            }
            guard index < devices.disks.count, devices.disks[index].hasMedium else { return [] }
            let disk = devices.disks[index]
            // Every node, top down (a transient disk's image under its overlay, a backing chain's
            // layers), each once nothing above it is left.
            var removals: [(String, JSONValue)] = disk.blockNodesTopDown.map { ("blockdev-del", .object([("node-name", .string($0))])) }
            // The secret holding a network disk's HTTP cookies.
            if index < live.devices.disks.count, live.devices.disks[index].network?.cookies.isEmpty == false {
                removals.append(("object-del", .object([("id", .string(devices.disks[index].storageNode + "-httpcookie-secret0"))])))
            }
            // An NBD disk's TLS credentials, when it spoke TLS (else QEMU has no such object).
            if index < live.devices.disks.count, live.devices.disks[index].network?.networkProtocol == .nbd {
                removals.append(("object-del", .object([("id", .string("obj" + devices.disks[index].storageNode + "_tls0"))])))
            }
            return removals
        case "interface":
            guard index < devices.interfaces.count else { return [] }
            var removals: [(String, JSONValue)] = [("netdev_del", .object([("id", .string(devices.interfaces[index].netdev))]))]
            // A vhost-user interface's socket chardev goes after its netdev.
            if index < live.devices.interfaces.count, live.devices.interfaces[index].type == .vhostuser {
                removals.append(("chardev-remove", .object([("id", .string("char" + devices.interfaces[index].alias))])))
            }
            return removals
        case "channel":
            guard let channel = devices.characterDevice(.channel, index: index) else { return [] }
            var removals: [(String, JSONValue)] = [("chardev-remove", .object([("id", .string(channel.chardev))]))]
            // A TCP channel's TLS credentials, when it spoke TLS.
            if index < live.devices.channels.count, live.devices.channels[index].type == .tcp {
                removals.append(("object-del", .object([("id", .string("obj" + channel.chardev + "_tls0"))])))
            }
            return removals
        case "memory":
            guard index < live.devices.memoryDevices.count, let alias = live.devices.memoryDevices[index].alias else { return [] }
            return [("object-del", .object([("id", .string("mem" + alias))]))]
        case "rng":
            guard index < live.devices.rngs.count else { return [] }
            return [("object-del", .object([("id", .string("obj" + (live.devices.rngs[index].alias ?? "rng\(index)")))]))]
        default:
            return []
        }
    }

    /// Asks QEMU to unplug the device `alias` of the running guest; unless `waits` is false,
    /// waits for it to go (at most ``unplugTimeout``, after which the removal finishes when QEMU
    /// reports it).
    nonisolated func detachLive(alias: String, name: String, from record: DomainRecord, waits: Bool) async throws(RemoteError) {
        guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
        let live = try liveDocument(guest)
        let element = DeviceXML.devices(named: name, in: live.document).first { $0.element(named: "alias")?[attribute: "name"] == alias }
        try Self.checkUnpluggable(name: name, element: element, live: live.definition)
        // A guestfwd channel is no device: its network goes (`netdev_del`), then its chardev,
        // at once, with or without a waiter (libvirt's qemuDomainDetachDeviceChr).
        if name == "channel", element?.element(named: "target")?[attribute: "type"] == "guestfwd" {
            do throws(QMPError) {
                _ = try await guest.qmp.execute("netdev_del", arguments: .object([("id", .string(alias))]))
            } catch {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'netdev_del': \(error.message)")
            }
            await finishRemoval(alias: alias, of: record.uuid)
            return
        }
        // A waiting detach marks the device first: QEMU may report it gone before it answers.
        // Without a waiter, the report finishes the removal in the domain's next job.
        if waits { removals.mark(alias, of: record.uuid) }
        do throws(QMPError) {
            _ = try await guest.qmp.execute("device_del", arguments: .object([("id", .string(alias))]))
        } catch {
            removals.unmark(alias, of: record.uuid)
            throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'device_del': \(error.message)")
        }
        guard waits else { return }
        switch await removals.wait(for: alias, of: record.uuid, timeout: Self.unplugTimeout) {
        case .deleted: await finishRemoval(alias: alias, of: record.uuid)
        case .rejectedByGuest: throw RemoteError(code: .operationFailed, domain: .qemu, detail: "unplug of device was rejected by the guest")
        case .timedOut: logger.notice("the guest has not released the device yet; it goes when QEMU says so", metadata: ["name": "\(record.name)", "device": "\(alias)"])
        }
    }

    /// libvirt's rules for what may be unplugged.
    nonisolated static func checkUnpluggable(name: String, element: XMLElement?, live: DomainDefinition) throws(RemoteError) {
        switch name {
        case "disk":
            let bus = element?.element(named: "target")?[attribute: "bus"] ?? ""
            let device = element?[attribute: "device"] ?? "disk"
            if device == "cdrom" || device == "floppy" {
                guard device == "cdrom", bus == "scsi" || bus == "usb" else {
                    throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "disk device type '\(device)' cannot be detached")
                }
            } else if !["virtio", "scsi", "usb"].contains(bus) {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "This type of disk cannot be hot unplugged")
            }
        case "interface", "rng", "channel":
            break
        case "input":
            let bus = element?[attribute: "bus"] ?? "ps2"
            guard bus == "usb" || bus == "virtio" else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "input device on bus '\(bus)' cannot be detached")
            }
        case "watchdog":
            let model = element?[attribute: "model"] ?? ""
            guard model == "i6300esb" else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "hot unplug of watchdog of model \(model) is not supported")
            }
        case "memory":
            // QEMU cannot unplug a virtio-mem device; its requested size goes to 0 instead.
            if element?[attribute: "model"] == "virtio-mem" {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "virtio-mem devices cannot be hot unplugged; set their requested size to 0 instead")
            }
        case "controller":
            let type = element?[attribute: "type"] ?? ""
            guard type == "scsi" else { throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "'\(type)' controller cannot be hot unplugged.") }
            if live.devices.disks.contains(where: { $0.targetBus == .scsi }) || live.devices.hostDevices.contains(where: { $0.type == .scsi }) {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "device cannot be detached: device is busy")
            }
        default:
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "live detach of device '\(name)' is not supported")
        }
    }

    /// QEMU let the device `alias` go: frees its backends, takes it out of the live document and
    /// tells the clients. Does nothing if the document no longer has it. The caller holds the
    /// domain's job.
    nonisolated func finishRemoval(alias: String, of uuid: RemoteUUID) async {
        guard let record = registry.record(uuid: uuid), let guest = record.runtime, let live = try? liveDocument(guest) else { return }
        guard let (name, index) = DeviceXML.position(ofAlias: alias, in: live.document) else {
            // A vCPU whose unplug outlasted its caller: count again.
            if alias.hasPrefix("vcpu"), let topology = Optional(live.definition.cpu?.topology),
                let slots = try? await Self.cpuSlots(guest.qmp, topology: (topology?.dies ?? 1, topology?.cores ?? 1, topology?.threads ?? 1)) {
                try? await refreshVcpus(of: uuid, count: slots.filter(\.isPlugged).count)
            }
            return
        }
        for (command, arguments) in Self.backendRemovals(of: name, at: index, live: live.definition, devices: guest.devices) {
            _ = try? await guest.qmp.execute(command, arguments: arguments)
        }
        // An interface's tap and network port go with it, and a transient disk's overlay.
        if name == "interface", index < guest.devices.interfaces.count, let connection = guest.devices.interfaces[index].connection {
            await disconnectInterfaces([connection])
        }
        if name == "disk", index < guest.devices.disks.count, let overlay = guest.devices.disks[index].transientOverlay {
            _ = try? await BlockingWork.run { TransientOverlays.remove([overlay]) }
        }
        let document = DeviceXML.removing(name, at: index, from: live.document)
        guard let remaining = try? DomainXMLParser.parse(document, options: liveOptions), let names = try? deviceNames(remaining.definition, guest: guest) else { return }
        registry.updateGuest(uuid) { guest in
            guest.liveXML = DomainXMLFormatter.format(remaining.document, id: Int(guest.id))
            guest.devices = names
        }
        await liveXMLChanged(uuid)
        events.deviceRemoved(record.handle, alias: alias)
    }

    /// QEMU's report on a device being unplugged (`DEVICE_DELETED`, or the guest's refusal):
    /// handed to the detach waiting for it, or else finished here in the domain's job.
    nonisolated func deviceUnplugReported(alias: String, rejected: Bool, of record: DomainRecord) {
        if rejected {
            _ = removals.report(.rejectedByGuest, for: alias, of: record.uuid)
            events.deviceRemovalFailed(record.handle, alias: alias)
            return
        }
        guard !removals.report(.deleted, for: alias, of: record.uuid) else { return }
        let uuid = record.uuid
        Task {
            try? await self.jobs.run(record.name, "device removal") { () async throws(RemoteError) in
                await self.finishRemoval(alias: alias, of: uuid)
            }
        }
    }
}

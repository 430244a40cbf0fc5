import CorralJSON
import CorralProtocol
import DomainXML
import QMP
import XMLTree

/// Plugging vCPUs in and out of a running guest, as libvirt does with QEMU's hotpluggable CPU
/// entities: `query-hotpluggable-cpus` lists every slot of `-smp …,maxcpus=N`; a free one gets
/// `device_add` with libvirt's id (`vcpuN`); one Corral plugged in goes with `device_del` and
/// QEMU's `DEVICE_DELETED`, the guest willing. The vCPUs QEMU started with stay. The caller
/// holds the domain's job.
extension DomainDriver {
    /// One slot of QEMU's hotpluggable CPUs.
    struct CPUSlot {
        var index: Int
        var type: String
        var properties: [(String, JSONValue)]
        /// Where QEMU has the CPU, when one is plugged in (`/machine/peripheral/vcpuN` for the
        /// ones plugged in by id).
        var path: String?

        var isPlugged: Bool { path != nil }
        var isUnpluggable: Bool { path?.hasPrefix("/machine/peripheral/") == true }
    }

    /// The slots, in vCPU order (a slot's vCPU number follows its socket, die, core and thread).
    nonisolated static func cpuSlots(_ qmp: QMPClient, topology: (dies: Int, cores: Int, threads: Int)) async throws(RemoteError) -> [CPUSlot] {
        let reply: JSONValue
        do throws(QMPError) {
            reply = try await qmp.execute("query-hotpluggable-cpus")
        } catch {
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "cpu hotplug is not supported: \(error.message)")
        }
        guard case .array(let entries) = reply else { return [] }
        var slots: [CPUSlot] = []
        for entry in entries {
            guard let type = entry["type"]?.stringValue, case .object(let properties)? = entry["props"] else { continue }
            func id(_ name: String) -> Int { properties.first { $0.0 == name }?.1.intValue.map { Int(clamping: $0) } ?? 0 }
            let index = ((id("socket-id") * topology.dies + id("die-id")) * topology.cores + id("core-id")) * topology.threads + id("thread-id")
            slots.append(CPUSlot(index: index, type: type, properties: properties, path: entry["qom-path"]?.stringValue))
        }
        return slots.sorted { $0.index < $1.index }
    }

    /// Plugs in the enabled hotpluggable vCPUs of `<vcpus>` of a guest QEMU has just started
    /// (paused), by their order, then id, as libvirt's `qemuProcessSetupHotpluggableVcpus`.
    nonisolated static func plugStartupVcpus(_ definition: DomainDefinition, qmp: QMPClient) async throws(RemoteError) {
        guard let states = definition.vcpuStates else { return }
        let plugged = states.enumerated().filter { $0.element.enabled && $0.element.hotpluggable == true }
            .sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }.map(\.offset)
        guard !plugged.isEmpty else { return }
        let topology = definition.cpu?.topology
        let slots = try await cpuSlots(qmp, topology: (topology?.dies ?? 1, topology?.cores ?? 1, topology?.threads ?? 1))
        for id in plugged {
            guard let slot = slots.first(where: { $0.index == id && !$0.isPlugged }) else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "vcpu '\(id)' is missing hotplug data")
            }
            do throws(QMPError) {
                _ = try await qmp.execute("device_add", arguments: .object([("driver", .string(slot.type)), ("id", .string("vcpu\(id)"))] + slot.properties))
            } catch {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'device_add': \(error.message)")
            }
        }
    }

    /// Brings the guest to `count` vCPUs; returns the new count.
    nonisolated func setLiveVcpus(_ count: Int, of record: DomainRecord) async throws(RemoteError) {
        guard let guest = record.runtime else { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running") }
        guard count <= guest.vcpuMaximum else {
            throw RemoteError(
                code: .invalidArgument, domain: .qemu,
                detail: "requested vcpus is greater than max allowable vcpus for the live domain: \(count) > \(guest.vcpuMaximum)")
        }
        let live = try liveDocument(guest).definition
        let topology = live.cpu?.topology
        let slots = try await Self.cpuSlots(guest.qmp, topology: (topology?.dies ?? 1, topology?.cores ?? 1, topology?.threads ?? 1))
        var plugged = slots.filter(\.isPlugged).count
        var failure: RemoteError?
        if count > plugged {
            for slot in slots where !slot.isPlugged && plugged < count {
                let arguments: JSONValue = .object([("driver", .string(slot.type)), ("id", .string("vcpu\(slot.index)"))] + slot.properties)
                do throws(QMPError) {
                    _ = try await guest.qmp.execute("device_add", arguments: arguments)
                    plugged += 1
                } catch {
                    failure = RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'device_add': \(error.message)")
                    break
                }
            }
        } else if count < plugged {
            for slot in slots.reversed() where slot.isPlugged && plugged > count {
                guard slot.isUnpluggable else {
                    failure = RemoteError(code: .invalidArgument, domain: .qemu, detail: "vcpu '\(slot.index)' can't be hotunplugged")
                    break
                }
                let alias = "vcpu\(slot.index)"
                removals.mark(alias, of: record.uuid)
                do throws(QMPError) {
                    _ = try await guest.qmp.execute("device_del", arguments: .object([("id", .string(alias))]))
                } catch {
                    removals.unmark(alias, of: record.uuid)
                    failure = RemoteError(code: .internalError, domain: .qemu, detail: "unable to execute QEMU command 'device_del': \(error.message)")
                    break
                }
                switch await removals.wait(for: alias, of: record.uuid, timeout: Self.unplugTimeout) {
                case .deleted:
                    plugged -= 1
                case .rejectedByGuest:
                    failure = RemoteError(code: .operationFailed, domain: .qemu, detail: "unplug of device was rejected by the guest")
                case .timedOut:
                    failure = RemoteError(code: .operationTimeout, domain: .qemu, detail: "vcpu unplug request timed out. Unplug result must be manually inspected in the domain")
                }
                if failure != nil { break }
            }
        }
        // What QEMU has now, whatever happened: the count, the threads, the live document.
        try await refreshVcpus(of: record.uuid, count: plugged)
        if let failure { throw failure }
    }

    /// Records that the guest has `count` vCPUs: their threads (pinned as the definition the
    /// guest started with says), and `<vcpu current>` of the live document.
    nonisolated func refreshVcpus(of uuid: RemoteUUID, count: Int) async throws(RemoteError) {
        guard var guest = registry.record(uuid: uuid)?.runtime else { return }
        guest.vcpuThreads = nil
        let threads = try await GuestStatistics.vcpuThreads(guest)
        let live = try? liveDocument(guest).definition
        // A live document with <vcpus> says which vCPUs are plugged in: QEMU's slots tell.
        var plugged: Set<Int>?
        if let live, live.vcpuStates != nil {
            let topology = live.cpu?.topology
            let slots = try? await Self.cpuSlots(guest.qmp, topology: (topology?.dies ?? 1, topology?.cores ?? 1, topology?.threads ?? 1))
            plugged = slots.map { Set($0.filter(\.isPlugged).map(\.index)) }
        }
        if let live {
            // A new vCPU runs where the domain's pins say.
            let ioThreads = live.ioThreadIDs.isEmpty ? [:] : ((try? await GuestStatistics.ioThreads(guest)) ?? [:])
            try? ThreadPinning.applyDefinition(live, pid: guest.pid, vcpuThreads: threads, ioThreads: ioThreads)
            // …in its own control group, with the vCPUs' bandwidth (libvirt's per-vCPU group).
            if let cgroup = guest.cgroup, cgroup.hasThreadGroups {
                let tune = live.cpuTune
                try? await BlockingWork.run { () throws(RemoteError) in
                    for (index, tid) in threads.enumerated() { try cgroup.moveThread(tid, to: .vcpu(index)) }
                    try GuestTunables.applyThreadBandwidths(tune, to: cgroup)
                }
            }
        }
        registry.updateGuest(uuid) { guest in
            guest.vcpuThreads = threads
            guest.vcpuCount = count
            guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { document in
                VcpuDocument.setCount(&document, current: count)
                if let plugged { VcpuDocument.setEnabled(&document, plugged) }
            }
        }
        await liveXMLChanged(uuid)
    }
}

/// `<vcpu>` and `<cputune>` edits on documents.
enum VcpuDocument {
    /// Sets `<vcpu current>` (dropped when all are plugged in, as libvirt writes it).
    static func setCount(_ document: inout XMLElement, current: Int) {
        document.updateElements { vcpu in
            guard vcpu.name == "vcpu", vcpu.namespace == nil else { return }
            let maximum = Int(vcpu.text) ?? current
            vcpu[attribute: "current"] = current == maximum ? nil : String(current)
        }
    }

    /// Sets `<vcpu>` (the maximum), keeping `current` at most that.
    static func setMaximum(_ document: inout XMLElement, maximum: Int) {
        var current = maximum
        document.updateElements { vcpu in
            guard vcpu.name == "vcpu", vcpu.namespace == nil else { return }
            current = min(vcpu[attribute: "current"].flatMap { Int($0) } ?? maximum, maximum)
            vcpu.setText(String(maximum))
        }
        setCount(&document, current: current)
    }

    /// Sets (or, with `nil`, removes) a `<cputune>` pin: `<vcpupin vcpu=N>` or `<emulatorpin>`.
    static func setPin(_ document: inout XMLElement, vcpu: Int?, cpus: DomainDefinition.CPUSet?) {
        setPin(&document, name: vcpu == nil ? "emulatorpin" : "vcpupin", key: vcpu.map { ("vcpu", $0) }, cpus: cpus)
    }

    /// Marks the vCPUs of `<vcpus>` in `plugged` enabled and the others disabled. A disabled
    /// vCPU has no order; a newly enabled one comes after the others when they have orders (as
    /// libvirt numbers them by the order QEMU enabled them).
    static func setEnabled(_ document: inout XMLElement, _ plugged: Set<Int>) {
        document.updateElements { list in
            guard list.name == "vcpus", list.namespace == nil else { return }
            var next = (list.elements(named: "vcpu").compactMap { $0[attribute: "order"].flatMap { Int($0) } }.max() ?? 0) + 1
            let ordered = list.elements(named: "vcpu").contains { $0[attribute: "order"] != nil }
            list.updateElements { vcpu in
                guard vcpu.name == "vcpu", let id = vcpu[attribute: "id"].flatMap({ Int($0) }) else { return }
                let enabled = plugged.contains(id)
                if !enabled {
                    vcpu[attribute: "order"] = nil
                } else if vcpu[attribute: "enabled"] != "yes" && ordered {
                    vcpu[attribute: "order"] = String(next)
                    next += 1
                }
                vcpu[attribute: "enabled"] = enabled ? "yes" : "no"
            }
        }
    }

    /// Sets (or, with `nil`, removes) `<iothreadpin iothread=N>`.
    static func setIOThreadPin(_ document: inout XMLElement, ioThread: Int, cpus: DomainDefinition.CPUSet?) {
        setPin(&document, name: "iothreadpin", key: ("iothread", ioThread), cpus: cpus)
    }

    /// A `<cputune>` pin named `name`, told apart from its siblings by `key` (an attribute and
    /// its number), kept in libvirt's order: vCPU pins by vCPU, the emulator's, I/O threads' by id.
    private static func setPin(_ document: inout XMLElement, name: String, key: (attribute: String, value: Int)?, cpus: DomainDefinition.CPUSet?) {
        func isThePin(_ node: XMLNode) -> Bool {
            guard case .element(let e) = node, e.name == name, e.namespace == nil else { return false }
            return key.map { e[attribute: $0.attribute] == String($0.value) } ?? true
        }
        if document.element(named: "cputune") == nil, cpus != nil {
            let tune = XMLNode.element(XMLElement(name: "cputune"))
            // After <vcpu>/<vcpus>/<iothreads>, where libvirt puts it.
            let anchor = document.children.lastIndex { node in
                if case .element(let e) = node, e.namespace == nil, ["vcpu", "vcpus", "iothreads", "iothreadids"].contains(e.name) { true } else { false }
            }
            document.children.insert(tune, at: anchor.map { $0 + 1 } ?? document.children.count)
        }
        document.updateElements { tune in
            guard tune.name == "cputune", tune.namespace == nil else { return }
            tune.children.removeAll(where: isThePin)
            if let cpus {
                var attributes = [XMLAttribute(name: "cpuset", value: cpus.description)]
                if let key { attributes.insert(XMLAttribute(name: key.attribute, value: String(key.value)), at: 0) }
                let pin = XMLNode.element(XMLElement(name: name, attributes: attributes))
                let order = ["vcpupin", "emulatorpin", "iothreadpin"]
                let rank = order.firstIndex(of: name) ?? order.count
                // Before the first pin that comes later: of a later kind, or of this kind with a higher number.
                let position = tune.children.firstIndex { node in
                    guard case .element(let e) = node, let theirs = order.firstIndex(of: e.name) else { return false }
                    if theirs != rank { return theirs > rank }
                    guard let key else { return false }
                    return (Int(e[attribute: key.attribute] ?? "") ?? 0) > key.value
                } ?? tune.children.lastIndex { node in
                    if case .element(let e) = node, let theirs = order.firstIndex(of: e.name) { theirs <= rank } else { false }
                }.map { $0 + 1 } ?? tune.children.count
                tune.children.insert(pin, at: position)
            }
        }
        // An empty <cputune> goes.
        document.children.removeAll { node in
            if case .element(let e) = node, e.name == "cputune", e.namespace == nil, e.elements.isEmpty { true } else { false }
        }
    }
}

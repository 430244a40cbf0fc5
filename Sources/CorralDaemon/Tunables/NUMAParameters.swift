import CorralProtocol
import DomainXML
import Foundation
import XMLTree

/// `numatune`: which host NUMA nodes the guest's memory comes from. A running guest's nodes
/// change through its cpuset (strict and restrictive modes, as libvirt allows); its mode does not.
enum NUMAParameters {
    static let names: [(String, TypedParameter.Kind)] = [("numa_mode", .int), ("numa_nodeset", .string)]

    static func get(_ handle: RemoteDomain, nparams: Int32, flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) -> ([TypedParameter], Int32) {
        let (record, impact) = try TunableProcedures.getImpact(handle, nparams: nparams, flags: flags, function: "qemuDomainGetNumaParameters", context)
        if nparams == 0 { return ([], Int32(names.count)) }
        let tune: DomainDefinition.NUMATune?
        if impact.live, let guest = record.runtime { tune = try context.live(guest).numaTune } else { tune = record.definition.numaTune }
        let all = [
            TypedParameter("numa_mode", .int((tune?.mode ?? .strict).number)), TypedParameter("numa_nodeset", .string(tune?.nodeset?.description ?? "")),
        ]
        let given = TunableProcedures.given(all, nparams: nparams, flags: flags)
        return (given, Int32(given.count))
    }

    static func set(_ handle: RemoteDomain, _ parameters: [TypedParameter], flags: UInt32, _ context: TunableProcedures.Context) async throws(RemoteError) {
        try DomainProcedures.checkFlags(flags, allowed: TunableProcedures.live | TunableProcedures.config, function: "qemuDomainSetNumaParameters")
        try TunableProcedures.validate(parameters, Dictionary(uniqueKeysWithValues: names))
        var givenMode: DomainDefinition.NUMATune.Mode?, givenNodes: DomainDefinition.CPUSet?
        for parameter in parameters {
            switch parameter.value {
            case .int(let number):
                guard let value = DomainDefinition.NUMATune.Mode(number: number) else {
                    throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unsupported numatune mode: '\(number)'")
                }
                givenMode = value
            case .string(let text):
                guard let set = DomainDefinition.CPUSet(parsing: text) else { throw RemoteError(code: .invalidArgument, domain: .none, detail: "Failed to parse bitmap '\(text)'") }
                let hostNodes = hostNUMANodes()
                guard set.cpus.isSubset(of: hostNodes) else {
                    throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "NUMA node \(set.cpus.subtracting(hostNodes).sorted().first ?? 0) is unavailable")
                }
                givenNodes = set
            default:
                continue
            }
        }
        let mode = givenMode, nodes = givenNodes
        let name = try context.registry.record(for: handle).name
        try await context.driver.jobs.run(name, "set numa parameters") { () async throws(RemoteError) in
            let record = try context.registry.record(for: handle)
            let impact = try ModificationImpact(flags: flags, record: record)
            if impact.live, let guest = record.runtime {
                let current = try context.live(guest).numaTune?.mode ?? .strict
                if let mode, mode != current { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "can't change numatune mode for running domain") }
                if let nodes {
                    guard current == .strict || current == .restrictive else {
                        throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "change of nodeset for running domain requires strict or restrictive numa mode")
                    }
                    let group = try context.cgroup(guest, .cpuset)
                    try await BlockingWork.run { () throws(RemoteError) in try group.setMemoryNodes(nodes.description) }
                    await context.editLive(record) { edited($0, mode: current, nodes: nodes) }
                }
            }
            if impact.config {
                let tune = record.definition.numaTune
                try await context.editConfig(record) { edited($0, mode: mode ?? tune?.mode ?? .strict, nodes: nodes ?? tune?.nodeset) }
            }
        }
    }

    /// `<numatune><memory mode nodeset>`.
    static func edited(_ document: XMLElement, mode: DomainDefinition.NUMATune.Mode, nodes: DomainDefinition.CPUSet?) -> XMLElement {
        var attributes = [XMLAttribute(name: "mode", value: mode.rawValue)]
        if let nodes { attributes.append(XMLAttribute(name: "nodeset", value: nodes.description)) }
        // The cells' own bindings (<memnode>) stay as they are.
        let cellNodes = document.element(named: "numatune")?.children.filter { if case .element(let e) = $0 { e.name == "memnode" } else { false } } ?? []
        let tune = XMLElement(name: "numatune", children: [.element(XMLElement(name: "memory", attributes: attributes))] + cellNodes)
        return TopLevelElements.setting("numatune", to: tune, in: document)
    }

    /// The host's NUMA nodes (node 0 when the kernel shows none).
    static func hostNUMANodes() -> Set<Int> {
        let text = (try? String(contentsOfFile: "/sys/devices/system/node/online", encoding: .utf8)) ?? "0"
        return Set(HostStatistics.cpuList(text) ?? [0])
    }
}

import CorralProtocol
import DomainXML
import XDR

/// `virsh snapshot-*`: taking, listing, describing, reverting to and deleting a domain's
/// snapshots. Changes run in the domain's job; queries read the domain's tree as it is.
enum SnapshotProcedures {
    /// libvirt's `REMOTE_DOMAIN_SNAPSHOT_LIST_MAX`.
    static let listLimit: Int32 = 16384
    /// `VIR_DOMAIN_SNAPSHOT_XML_SECURE`.
    static let secureXMLFlag: UInt32 = 1

    static func register(in table: inout ProcedureTable, driver: DomainDriver, registry: DomainRegistry) {
        @Sendable func snapshotOf(_ handle: RemoteDomainSnapshot) throws(RemoteError) -> (DomainRecord, DomainSnapshot) {
            let record = try registry.record(for: handle.dom)
            return (record, try DomainDriver.snapshot(handle.name, in: record))
        }
        @Sendable func handle(_ name: String, of record: DomainRecord) -> RemoteDomainSnapshot {
            RemoteDomainSnapshot(name: name, dom: record.handle)
        }

        // MARK: Changes
        table.registerAsync(Remote.DomainSnapshotCreateXML.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: SnapshotCreateFlags.all.rawValue, function: "qemuDomainSnapshotCreateXML")
            let flags = SnapshotCreateFlags(rawValue: arguments.flags)
            if flags.contains(.quiesce) && !flags.contains(.diskOnly) {
                throw RemoteError.invalidArgument(
                    "Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY' is required by flag 'VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE'", domain: .domain)
            }
            try refuseTogether(arguments.flags, (SnapshotCreateFlags.live.rawValue, "VIR_DOMAIN_SNAPSHOT_CREATE_LIVE"), (SnapshotCreateFlags.redefine.rawValue, "VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE"))
            try refuseTogether(arguments.flags, (SnapshotCreateFlags.redefine.rawValue, "VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE"), (SnapshotCreateFlags.noMetadata.rawValue, "VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA"))
            try refuseTogether(arguments.flags, (SnapshotCreateFlags.redefine.rawValue, "VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE"), (SnapshotCreateFlags.halt.rawValue, "VIR_DOMAIN_SNAPSHOT_CREATE_HALT"))
            if flags.contains(.current) && !flags.contains(.redefine) {
                throw RemoteError.invalidArgument("Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE' is required by flag 'VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT'", domain: .domain)
            }
            let name = try await driver.inJob(arguments.dom, "qemuDomainSnapshotCreateXML") { uuid throws(RemoteError) in
                try await driver.createSnapshot(uuid, xml: arguments.xmlDesc, flags: flags)
            }
            return .init(snap: RemoteDomainSnapshot(name: name, dom: try registry.record(for: arguments.dom).handle))
        }
        table.registerAsync(Remote.DomainRevertToSnapshot.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: SnapshotRevertFlags.all.rawValue, function: "qemuDomainRevertToSnapshot")
            let flags = SnapshotRevertFlags(rawValue: arguments.flags)
            try refuseTogether(arguments.flags, (SnapshotRevertFlags.running.rawValue, "VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING"), (SnapshotRevertFlags.paused.rawValue, "VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED"))
            try await driver.inJob(arguments.snap.dom, "qemuDomainRevertToSnapshot") { uuid throws(RemoteError) in
                try await driver.revertToSnapshot(uuid, name: arguments.snap.name, flags: flags)
            }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSnapshotDelete.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: SnapshotDeleteFlags.all.rawValue, function: "qemuDomainSnapshotDelete")
            let flags = SnapshotDeleteFlags(rawValue: arguments.flags)
            try refuseTogether(arguments.flags, (SnapshotDeleteFlags.children.rawValue, "VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN"), (SnapshotDeleteFlags.childrenOnly.rawValue, "VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY"))
            try await driver.inJob(arguments.snap.dom, "qemuDomainSnapshotDelete") { uuid throws(RemoteError) in
                try await driver.deleteSnapshot(uuid, name: arguments.snap.name, flags: flags)
            }
            return XDRVoid()
        }

        // MARK: Queries
        table.register(Remote.DomainSnapshotLookupByName.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainSnapshotLookupByName")
            let record = try registry.record(for: arguments.dom)
            return .init(snap: handle(try DomainDriver.snapshot(arguments.name, in: record).name, of: record))
        }
        table.register(Remote.DomainSnapshotGetXMLDesc.self) { arguments, context throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: secureXMLFlag, function: "qemuDomainSnapshotGetXMLDesc")
            let secure = arguments.flags & secureXMLFlag != 0
            if secure && context.isReadOnly { throw RemoteError.readOnly(api: "virDomainSnapshotGetXMLDesc") }
            return .init(xml: try snapshotOf(arguments.snap).1.format(secure: secure))
        }
        table.register(Remote.DomainSnapshotNum.self) { arguments, _ throws(RemoteError) in
            let flags = try listFlags(arguments.flags, "qemuDomainSnapshotNum")
            return .init(num: Int32(clamping: try registry.record(for: arguments.dom).snapshots.list(from: nil, flags: flags).count))
        }
        table.register(Remote.DomainSnapshotListNames.self) { arguments, _ throws(RemoteError) in
            let limit = try maximum(arguments.maxnames, "domain snapshot names")
            let flags = try listFlags(arguments.flags, "qemuDomainSnapshotListNames")
            return .init(names: Array(try registry.record(for: arguments.dom).snapshots.list(from: nil, flags: flags).prefix(limit)))
        }
        /// The handles (when `needResults`) and count a list-all call returns.
        @Sendable func listAll(_ record: DomainRecord, from start: String?, needResults: Int32, flags: SnapshotListFlags) throws(RemoteError) -> ([RemoteDomainSnapshot], Int32) {
            let names = record.snapshots.list(from: start, flags: flags)
            guard names.count <= Int(listLimit) else { throw tooMany(names.count) }
            return (needResults != 0 ? names.map { handle($0, of: record) } : [], Int32(names.count))
        }
        table.register(Remote.DomainListAllSnapshots.self) { arguments, _ throws(RemoteError) in
            let flags = try listFlags(arguments.flags, "qemuDomainListAllSnapshots")
            let (snapshots, count) = try listAll(try registry.record(for: arguments.dom), from: nil, needResults: arguments.needResults, flags: flags)
            return .init(snapshots: snapshots, ret: count)
        }
        table.register(Remote.DomainSnapshotNumChildren.self) { arguments, _ throws(RemoteError) in
            let flags = try listFlags(arguments.flags, "qemuDomainSnapshotNumChildren")
            let (record, snapshot) = try snapshotOf(arguments.snap)
            return .init(num: Int32(clamping: record.snapshots.list(from: snapshot.name, flags: flags).count))
        }
        table.register(Remote.DomainSnapshotListChildrenNames.self) { arguments, _ throws(RemoteError) in
            let limit = try maximum(arguments.maxnames, "domain snapshot names")
            let flags = try listFlags(arguments.flags, "qemuDomainSnapshotListChildrenNames")
            let (record, snapshot) = try snapshotOf(arguments.snap)
            return .init(names: Array(record.snapshots.list(from: snapshot.name, flags: flags).prefix(limit)))
        }
        table.register(Remote.DomainSnapshotListAllChildren.self) { arguments, _ throws(RemoteError) in
            let flags = try listFlags(arguments.flags, "qemuDomainSnapshotListAllChildren")
            let (record, snapshot) = try snapshotOf(arguments.snapshot)
            let (snapshots, count) = try listAll(record, from: snapshot.name, needResults: arguments.needResults, flags: flags)
            return .init(snapshots: snapshots, ret: count)
        }
        table.register(Remote.DomainHasCurrentSnapshot.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainHasCurrentSnapshot")
            return .init(result: try registry.record(for: arguments.dom).snapshots.current == nil ? 0 : 1)
        }
        table.register(Remote.DomainSnapshotCurrent.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainSnapshotCurrent")
            let record = try registry.record(for: arguments.dom)
            guard let current = record.snapshots.current else {
                throw RemoteError(code: .noDomainSnapshot, domain: .domainSnapshot, detail: "the domain does not have a current snapshot")
            }
            return .init(snap: handle(current, of: record))
        }
        table.register(Remote.DomainSnapshotGetParent.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainSnapshotGetParent")
            let (record, snapshot) = try snapshotOf(arguments.snap)
            guard let parent = record.snapshots.parentInTree(of: snapshot.name) else {
                throw RemoteError(code: .noDomainSnapshot, domain: .domainSnapshot, detail: "snapshot '\(snapshot.name)' does not have a parent")
            }
            return .init(snap: handle(parent, of: record))
        }
        table.register(Remote.DomainSnapshotIsCurrent.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainSnapshotIsCurrent")
            let (record, snapshot) = try snapshotOf(arguments.snap)
            return .init(current: record.snapshots.current == snapshot.name ? 1 : 0)
        }
        table.register(Remote.DomainSnapshotHasMetadata.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainSnapshotHasMetadata")
            _ = try snapshotOf(arguments.snap)
            return .init(metadata: 1)  // Every snapshot Corral knows has metadata.
        }
    }

    /// libvirt's refusal of two flags given together (`VIR_EXCLUSIVE_FLAGS`).
    static func refuseTogether(_ flags: UInt32, _ first: (bit: UInt32, name: String), _ second: (bit: UInt32, name: String)) throws(RemoteError) {
        guard flags & first.bit != 0 && flags & second.bit != 0 else { return }
        throw RemoteError.invalidArgument("Flags '\(first.name)' and '\(second.name)' are mutually exclusive", domain: .domain)
    }

    /// The list flags of a list or count call, refusing unknown bits.
    static func listFlags(_ flags: UInt32, _ function: String) throws(RemoteError) -> SnapshotListFlags {
        try DomainProcedures.checkFlags(flags, allowed: SnapshotListFlags.all.rawValue, function: function)
        return SnapshotListFlags(rawValue: flags)
    }

    /// A client's `maxnames`: not negative, not above the wire's limit.
    static func maximum(_ requested: Int32, _ what: String) throws(RemoteError) -> Int {
        guard requested >= 0 else { throw RemoteError.invalidArgument("maxnames must not be negative", domain: .domain) }
        guard requested <= listLimit else {
            throw RemoteError(code: .rpc, domain: .rpc, detail: "too many remote \(what): \(requested) > \(listLimit)")
        }
        return Int(requested)
    }

    static func tooMany(_ count: Int) -> RemoteError {
        RemoteError(code: .rpc, domain: .rpc, detail: "too many remote domain snapshots: \(count) > \(listLimit)")
    }
}

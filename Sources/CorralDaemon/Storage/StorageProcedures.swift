import CorralProtocol
import CorralStorage
import XDR

/// The storage procedures: pools, volumes, their listings, lookups and events.
enum StorageProcedures {
    /// `VIR_CONNECT_LIST_STORAGE_POOLS_*`: the state bits and one bit per pool type up to
    /// ISCSI_DIRECT (1 << 19).
    static let poolListFlags: UInt32 = (1 << 20) - 1

    static func register(in table: inout ProcedureTable, driver: StorageDriver) {
        registerListings(in: &table, driver.registry)
        registerPoolLookups(in: &table, driver.registry)
        registerPoolChanges(in: &table, driver)
        registerVolumeQueries(in: &table, driver)
        registerVolumeChanges(in: &table, driver)
        table.register(Remote.ConnectGetStoragePoolCapabilities.self) { arguments, _ throws(RemoteError) in
            try StorageDriver.checkFlags(arguments.flags, allowed: 0, function: "storageConnectGetStoragePoolCapabilities")
            return .init(capabilities: PoolCapabilitiesXML.format())
        }
        table.register(Remote.ConnectFindStoragePoolSources.self) { arguments, _ throws(RemoteError) in
            guard let type = PoolType(rawValue: arguments.type) else {
                throw RemoteError(code: .internalError, domain: .storage, detail: "unknown storage pool type \(arguments.type)")
            }
            throw RemoteError(code: .noSupport, domain: .storage, detail: "pool type '\(type.rawValue)' does not support source discovery")
        }
        table.register(Remote.ConnectStoragePoolEventRegisterAny.self) { arguments, context throws(RemoteError) in
            guard let channel = context.channel else { throw RemoteError.internalError("no channel for events") }
            let id = try driver.events.register(connectionID: context.connectionID, channel: channel, eventID: arguments.eventID, pool: arguments.pool?.uuid)
            return .init(callbackID: id)
        }
        table.register(Remote.ConnectStoragePoolEventDeregisterAny.self) { arguments, context throws(RemoteError) in
            try driver.events.deregister(connectionID: context.connectionID, callbackID: arguments.callbackID)
            return .init()
        }
    }

    // MARK: Listings

    private static func registerListings(in table: inout ProcedureTable, _ registry: StorageRegistry) {
        table.register(Remote.ConnectNumOfStoragePools.self) { _, _ in .init(num: Int32(registry.all().filter(\.isActive).count)) }
        table.register(Remote.ConnectNumOfDefinedStoragePools.self) { _, _ in .init(num: Int32(registry.all().filter { !$0.isActive }.count)) }
        table.register(Remote.ConnectListStoragePools.self) { arguments, _ throws(RemoteError) in
            try NetworkAndPoolListings.checkMaximum(arguments.maxnames, "REMOTE_STORAGE_POOL_LIST_MAX")
            return .init(names: Array(registry.all().filter(\.isActive).map(\.definition.name).prefix(Int(arguments.maxnames))))
        }
        table.register(Remote.ConnectListDefinedStoragePools.self) { arguments, _ throws(RemoteError) in
            try NetworkAndPoolListings.checkMaximum(arguments.maxnames, "REMOTE_STORAGE_POOL_LIST_MAX")
            return .init(names: Array(registry.all().filter { !$0.isActive }.map(\.definition.name).prefix(Int(arguments.maxnames))))
        }
        table.register(Remote.ConnectListAllStoragePools.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: poolListFlags, domain: .storage, function: "storageConnectListAllStoragePools")
            let pools = registry.all().filter { matches($0, arguments.flags) }.map(\.handle)
            return .init(pools: arguments.needResults != 0 ? pools : [], ret: UInt32(pools.count))
        }
    }

    /// `virConnectListAllStoragePools`' filter: within each group of flags, a pool must match
    /// one of those given.
    static func matches(_ record: PoolRecord, _ flags: UInt32) -> Bool {
        func group(_ mask: UInt32, _ bits: [(UInt32, Bool)]) -> Bool {
            guard flags & mask != 0 else { return true }
            return bits.contains { flags & $0.0 != 0 && $0.1 }
        }
        let typeMask = poolListFlags & ~UInt32(0x3F)
        return group(3, [(1, !record.isActive), (2, record.isActive)])
            && group(12, [(4, record.isPersistent), (8, !record.isPersistent)])
            && group(48, [(16, record.autostart), (32, !record.autostart)])
            && (flags & typeMask == 0 || flags & record.definition.type.listFlag != 0)
    }

    // MARK: Pools

    private static func registerPoolLookups(in table: inout ProcedureTable, _ registry: StorageRegistry) {
        table.register(Remote.StoragePoolLookupByName.self) { arguments, _ throws(RemoteError) in
            guard let record = registry.pool(named: arguments.name) else {
                throw RemoteError(code: .noStoragePool, domain: .storage, detail: "no storage pool with matching name '\(arguments.name)'")
            }
            return .init(pool: record.handle)
        }
        table.register(Remote.StoragePoolLookupByUuid.self) { arguments, _ throws(RemoteError) in
            guard let record = registry.pool(uuid: arguments.uuid.description) else {
                throw RemoteError(code: .noStoragePool, domain: .storage, detail: "no storage pool with matching uuid '\(arguments.uuid)'")
            }
            return .init(pool: record.handle)
        }
        table.register(Remote.StoragePoolLookupByVolume.self) { arguments, _ throws(RemoteError) in
            guard let record = registry.pool(named: arguments.vol.pool) else {
                throw RemoteError(code: .noStoragePool, domain: .storage, detail: "no storage pool with matching name '\(arguments.vol.pool)'")
            }
            return .init(pool: record.handle)
        }
        table.register(Remote.StoragePoolLookupByTargetPath.self) { arguments, _ throws(RemoteError) in
            guard let record = registry.activePool(targetPath: arguments.path) else {
                throw RemoteError(code: .noStoragePool, domain: .storage, detail: "no storage pool with matching target path '\(arguments.path)'")
            }
            return .init(pool: record.handle)
        }
        table.register(Remote.StoragePoolGetInfo.self) { arguments, _ throws(RemoteError) in
            let record = try registry.pool(for: arguments.pool)
            return .init(state: record.state.rawValue, capacity: record.sizes.capacity, allocation: record.sizes.allocation, available: record.sizes.available)
        }
        table.register(Remote.StoragePoolGetXmlDesc.self) { arguments, _ throws(RemoteError) in
            try StorageDriver.checkFlags(arguments.flags, allowed: 1, function: "storagePoolGetXMLDesc")
            let record = try registry.pool(for: arguments.pool)
            if arguments.flags & 1 != 0 || !record.isActive {
                return .init(xml: PoolXMLFormatter.format(record.inactiveDefinition))
            }
            return .init(xml: PoolXMLFormatter.format(record.definition, sizes: record.sizes, permissions: record.livePermissions))
        }
        table.register(Remote.StoragePoolGetAutostart.self) { arguments, _ throws(RemoteError) in
            .init(autostart: try registry.pool(for: arguments.pool).autostart ? 1 : 0)
        }
        table.register(Remote.StoragePoolIsActive.self) { arguments, _ throws(RemoteError) in
            .init(active: try registry.pool(for: arguments.pool).isActive ? 1 : 0)
        }
        table.register(Remote.StoragePoolIsPersistent.self) { arguments, _ throws(RemoteError) in
            .init(persistent: try registry.pool(for: arguments.pool).isPersistent ? 1 : 0)
        }
    }

    private static func registerPoolChanges(in table: inout ProcedureTable, _ driver: StorageDriver) {
        table.registerAsync(Remote.StoragePoolDefineXml.self) { arguments, _ throws(RemoteError) in
            try StorageDriver.checkFlags(arguments.flags, allowed: 0, function: "storagePoolDefineXML")
            return .init(pool: try await driver.define(xml: arguments.xml))
        }
        table.registerAsync(Remote.StoragePoolCreateXml.self) { arguments, _ throws(RemoteError) in
            .init(pool: try await driver.create(xml: arguments.xml, flags: arguments.flags))
        }
        table.registerAsync(Remote.StoragePoolCreate.self) { arguments, _ throws(RemoteError) in
            try await driver.start(arguments.pool, flags: arguments.flags)
            return .init()
        }
        table.registerAsync(Remote.StoragePoolBuild.self) { arguments, _ throws(RemoteError) in
            try await driver.build(arguments.pool, flags: arguments.flags)
            return .init()
        }
        table.registerAsync(Remote.StoragePoolDestroy.self) { arguments, _ throws(RemoteError) in
            try await driver.destroy(arguments.pool)
            return .init()
        }
        table.registerAsync(Remote.StoragePoolDelete.self) { arguments, _ throws(RemoteError) in
            try await driver.delete(arguments.pool, flags: arguments.flags)
            return .init()
        }
        table.registerAsync(Remote.StoragePoolUndefine.self) { arguments, _ throws(RemoteError) in
            try await driver.undefine(arguments.pool)
            return .init()
        }
        table.registerAsync(Remote.StoragePoolRefresh.self) { arguments, _ throws(RemoteError) in
            try await driver.refresh(arguments.pool, flags: arguments.flags)
            return .init()
        }
        table.registerAsync(Remote.StoragePoolSetAutostart.self) { arguments, _ throws(RemoteError) in
            try await driver.setAutostart(arguments.pool, arguments.autostart != 0)
            return .init()
        }
    }

    // MARK: Volumes

    private static func activePool(_ registry: StorageRegistry, _ handle: RemoteStoragePool) throws(RemoteError) -> PoolRecord {
        let record = try registry.pool(for: handle)
        guard record.isActive else {
            throw RemoteError(code: .operationInvalid, domain: .storage, detail: "storage pool '\(record.definition.name)' is not active")
        }
        return record
    }

    private static func registerVolumeQueries(in table: inout ProcedureTable, _ driver: StorageDriver) {
        let registry = driver.registry
        table.register(Remote.StoragePoolNumOfVolumes.self) { arguments, _ throws(RemoteError) in
            .init(num: Int32(try activePool(registry, arguments.pool).volumes.count))
        }
        table.register(Remote.StoragePoolListVolumes.self) { arguments, _ throws(RemoteError) in
            guard arguments.maxnames >= 0, arguments.maxnames <= 16384 else {
                throw RemoteError(code: .rpc, domain: .rpc, detail: "maxnames > REMOTE_STORAGE_VOL_LIST_MAX")
            }
            let record = try activePool(registry, arguments.pool)
            return .init(names: Array(record.volumes.map(\.name).prefix(Int(arguments.maxnames))))
        }
        table.register(Remote.StoragePoolListAllVolumes.self) { arguments, _ throws(RemoteError) in
            try StorageDriver.checkFlags(arguments.flags, allowed: 0, function: "storagePoolListAllVolumes")
            let record = try activePool(registry, arguments.pool)
            let volumes = record.volumes.map { RemoteStorageVolume(pool: record.definition.name, volume: $0) }
            return .init(vols: arguments.needResults != 0 ? volumes : [], ret: UInt32(volumes.count))
        }
        table.register(Remote.StorageVolLookupByName.self) { arguments, _ throws(RemoteError) in
            let record = try activePool(registry, arguments.pool)
            guard let volume = record.volume(named: arguments.name) else {
                throw RemoteError(code: .noStorageVolume, domain: .storage, detail: "no storage vol with matching name '\(arguments.name)'")
            }
            return .init(vol: RemoteStorageVolume(pool: record.definition.name, volume: volume))
        }
        table.register(Remote.StorageVolLookupByKey.self) { arguments, _ throws(RemoteError) in
            guard let (record, volume) = registry.volume(matching: arguments.key, byKey: true) else {
                throw RemoteError(code: .noStorageVolume, domain: .storage, detail: "no storage vol with matching key \(arguments.key)")
            }
            return .init(vol: RemoteStorageVolume(pool: record.definition.name, volume: volume))
        }
        table.register(Remote.StorageVolLookupByPath.self) { arguments, _ throws(RemoteError) in
            guard let (record, volume) = registry.volume(matching: arguments.path, byKey: false) else {
                throw RemoteError(code: .noStorageVolume, domain: .storage, detail: "no storage vol with matching path '\(arguments.path)'")
            }
            return .init(vol: RemoteStorageVolume(pool: record.definition.name, volume: volume))
        }
        table.register(Remote.StorageVolGetPath.self) { arguments, _ throws(RemoteError) in
            .init(name: try registry.volume(for: arguments.vol).1.path)
        }
        table.registerAsync(Remote.StorageVolGetInfo.self) { arguments, _ throws(RemoteError) in
            let volume = try await fresh(driver, arguments.vol)
            return .init(type: UInt8(volume.type.number), capacity: volume.capacity, allocation: volume.allocation)
        }
        table.registerAsync(Remote.StorageVolGetInfoFlags.self) { arguments, _ throws(RemoteError) in
            try StorageDriver.checkFlags(arguments.flags, allowed: 1, function: "storageVolGetInfoFlags")
            let volume = try await fresh(driver, arguments.vol)
            let allocation = arguments.flags & 1 != 0 ? (volume.physical ?? volume.allocation) : volume.allocation
            return .init(type: UInt8(volume.type.number), capacity: volume.capacity, allocation: allocation)
        }
        table.registerAsync(Remote.StorageVolGetXmlDesc.self) { arguments, _ throws(RemoteError) in
            try StorageDriver.checkFlags(arguments.flags, allowed: 0, function: "storageVolGetXMLDesc")
            return .init(xml: VolumeXMLFormatter.format(try await fresh(driver, arguments.vol)))
        }
    }

    /// The volume described afresh from its file (libvirt refreshes before get-info and XML).
    private static func fresh(_ driver: StorageDriver, _ handle: RemoteStorageVolume) async throws(RemoteError) -> VolumeDescription {
        _ = try driver.registry.volume(for: handle)
        await driver.refreshVolume(handle)
        return try driver.registry.volume(for: handle).1
    }

    private static func registerVolumeChanges(in table: inout ProcedureTable, _ driver: StorageDriver) {
        table.registerAsync(Remote.StorageVolCreateXml.self) { arguments, _ throws(RemoteError) in
            .init(vol: try await driver.createVolume(in: arguments.pool, xml: arguments.xml, flags: arguments.flags))
        }
        table.registerAsync(Remote.StorageVolCreateXmlFrom.self) { arguments, _ throws(RemoteError) in
            .init(vol: try await driver.cloneVolume(in: arguments.pool, xml: arguments.xml, from: arguments.clonevol, flags: arguments.flags))
        }
        table.registerAsync(Remote.StorageVolDelete.self) { arguments, _ throws(RemoteError) in
            try await driver.deleteVolume(arguments.vol, flags: arguments.flags)
            return .init()
        }
        table.registerAsync(Remote.StorageVolWipe.self) { arguments, _ throws(RemoteError) in
            try await driver.wipeVolume(arguments.vol, algorithm: 0, flags: arguments.flags)
            return .init()
        }
        table.registerAsync(Remote.StorageVolWipePattern.self) { arguments, _ throws(RemoteError) in
            try await driver.wipeVolume(arguments.vol, algorithm: arguments.algorithm, flags: arguments.flags)
            return .init()
        }
        table.registerStream(Remote.StorageVolDownload.self) { arguments, _ throws(RemoteError) in
            (.init(), try await driver.download(arguments.vol, offset: arguments.offset, length: arguments.length, flags: arguments.flags))
        }
        table.registerStream(Remote.StorageVolUpload.self) { arguments, _ throws(RemoteError) in
            (.init(), try await driver.upload(arguments.vol, offset: arguments.offset, length: arguments.length, flags: arguments.flags))
        }
        table.registerAsync(Remote.StorageVolResize.self) { arguments, _ throws(RemoteError) in
            try await driver.resizeVolume(arguments.vol, capacity: arguments.capacity, flags: arguments.flags)
            return .init()
        }
    }
}

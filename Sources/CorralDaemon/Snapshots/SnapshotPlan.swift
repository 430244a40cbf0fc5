import CorralProtocol
import DomainXML

/// What taking a snapshot means for one domain at one moment, decided before anything is
/// touched (libvirt's `qemuSnapshotCreateAlignDisks` and `qemuSnapshotPrepare`): the state and
/// memory it records, every disk's part in it with the default files of external ones, and
/// whether it is internal or external. A pure computation, so every refusal is unit-tested.
struct SnapshotPlan: Sendable {
    /// Where the snapshot's disk state goes.
    enum Kind: Sendable, Equatable {
        /// Inside the disks' qcow2 images (with the memory when the guest runs).
        case `internal`
        /// New overlay images on top of the disks (disk-only).
        case external
    }

    /// What a path is on the host, for external snapshot files.
    enum FileKind: Sendable, Equatable {
        case missing, regular, block, other
    }

    /// The snapshot with its state, memory and every disk decided.
    var snapshot: DomainSnapshot
    var kind: Kind

    /// The snapshot state of a domain in `state`.
    static func snapshotState(_ state: DomainState) -> DomainSnapshot.State {
        switch state {
        case .noState: .nostate
        case .running: .running
        case .blocked: .blocked
        case .paused: .paused
        case .shutdown: .shutdown
        case .shutoff: .shutoff
        case .crashed: .crashed
        case .pmSuspended: .pmsuspended
        }
    }

    /// Plans `requested` for a domain defined (or running) as `definition` (its volume disks
    /// resolved to paths), in `state`.
    init(
        _ requested: DomainSnapshot, definition: DomainDefinition, state: DomainState, flags: SnapshotCreateFlags, fileKind: (String) -> FileKind
    ) throws(RemoteError) {
        var snapshot = requested
        let active = state != .shutoff
        let defaultLocation: DomainSnapshot.Location
        if flags.contains(.diskOnly) {
            defaultLocation = .external
            snapshot.state = active ? .diskSnapshot : .shutoff
            snapshot.memory = DomainSnapshot.Location.no
        } else if snapshot.memory == .external {
            throw RemoteError(
                code: .configUnsupported, domain: .qemu,
                detail: "external memory snapshots are not supported by Corral; take a disk-only snapshot (--disk-only) or an internal one")
        } else {
            snapshot.state = Self.snapshotState(state)
            if active && snapshot.memory == DomainSnapshot.Location.no {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "internal snapshot of a running VM must include the memory state")
            }
            snapshot.memory = active ? .internal : DomainSnapshot.Location.no
            defaultLocation = .internal
        }
        snapshot.disks = try Self.alignDisks(snapshot, definition: definition, defaultLocation: defaultLocation, fileKind: fileKind)
        kind = try Self.prepare(snapshot, definition: definition, active: active, reuse: flags.contains(.reuseExternal), fileKind: fileKind)
        if kind == .external && !active { snapshot.state = .shutoff }
        self.snapshot = snapshot
    }

    /// Every disk of the domain, in its order, with its part decided (libvirt's
    /// `virDomainSnapshotAlignDisks` with a uniform internal snapshot), and the default files of
    /// external ones (the image's name without its extension, then `.SNAPSHOT`).
    static func alignDisks(
        _ snapshot: DomainSnapshot, definition: DomainDefinition, defaultLocation: DomainSnapshot.Location, fileKind: (String) -> FileKind
    ) throws(RemoteError) -> [DomainSnapshot.Disk] {
        let disks = definition.devices.disks
        guard snapshot.disks.count <= disks.count else {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "too many disk snapshot requests for domain")
        }
        let requireMatch = defaultLocation == .internal
        var requested: [String: DomainSnapshot.Disk] = [:]
        for var disk in snapshot.disks {
            guard let match = disks.first(where: { $0.targetDevice == disk.name || ($0.source != nil && $0.source == disk.name) }) else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "no disk named '\(disk.name)'")
            }
            guard requested[match.targetDevice] == nil else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "disk '\(disk.name)' specified twice")
            }
            if disk.location == nil {
                // The domain disk's own `snapshot` setting, unless a uniform internal snapshot
                // needs it to match (libvirt's virDomainSnapshotAlignDisks).
                if let own = match.snapshotLocation, !requireMatch || own == .no { disk.location = own } else { disk.location = defaultLocation }
            } else if requireMatch, disk.location != defaultLocation, !(disk.location == .no && match.snapshotLocation == .no) {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "disk '\(disk.name)' must use snapshot mode '\(defaultLocation.rawValue)'")
            }
            if let path = disk.path, disk.location != .external {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "file '\(path)' for disk '\(disk.name)' requires use of external snapshot mode")
            }
            disk.name = match.targetDevice
            requested[match.targetDevice] = disk
        }
        var aligned: [DomainSnapshot.Disk] = []
        for disk in disks {
            var entry = requested[disk.targetDevice]
                ?? DomainSnapshot.Disk(name: disk.targetDevice, location: disk.source == nil ? DomainSnapshot.Location.no : disk.snapshotLocation ?? defaultLocation)
            if entry.location == .external, entry.path == nil {
                guard disk.type == .file || disk.type == .volume else {
                    throw RemoteError(
                        code: .configUnsupported, domain: .qemu, detail: "cannot generate external snapshot name for disk '\(disk.targetDevice)' on a '\(disk.type.rawValue)' device")
                }
                guard let source = disk.source else {
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "cannot generate external snapshot name for disk '\(disk.targetDevice)' without source")
                }
                guard fileKind(source) == .regular else {
                    throw RemoteError(
                        code: .configUnsupported, domain: .qemu,
                        detail: "source for disk '\(disk.targetDevice)' is not a regular file; refusing to generate external snapshot name")
                }
                entry.path = withoutExtension(source) + "." + snapshot.name
                if let clash = aligned.first(where: { $0.path == entry.path }) {
                    throw RemoteError(
                        code: .configUnsupported, domain: .qemu,
                        detail: "cannot generate external snapshot name for disk '\(disk.targetDevice)': collision with disk '\(clash.name)'")
                }
            }
            aligned.append(entry)
        }
        return aligned
    }

    /// `path` without the extension of its last component.
    static func withoutExtension(_ path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return path }
        return String(path[..<dot])
    }

    /// libvirt's `qemuSnapshotPrepare`: whether the disks can take the snapshot planned, and
    /// which kind it is.
    static func prepare(_ snapshot: DomainSnapshot, definition: DomainDefinition, active: Bool, reuse: Bool, fileKind: (String) -> FileKind) throws(RemoteError) -> Kind {
        var foundInternal = false, forbidInternal = false, external = 0
        for (index, disk) in snapshot.disks.enumerated() {
            let domainDisk = definition.devices.disks[index]
            // A running guest's transient disk writes to an overlay that goes when it stops.
            if active && domainDisk.transient && (disk.location ?? .no) != .no {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "snapshots are not supported on transient disk '\(disk.name)'")
            }
            switch disk.location ?? .no {
            case .internal:
                foundInternal = true
                if snapshot.state == .diskSnapshot && active {
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "active qemu domains require external disk snapshots; disk \(disk.name) requested internal")
                }
                guard domainDisk.type == .file || domainDisk.type == .block || domainDisk.type == .volume else {
                    throw RemoteError(
                        code: .internalError, domain: .qemu,
                        detail: "internal \(active ? "" : "inactive ")snapshots are not supported on '\(domainDisk.type.rawValue)' disks")
                }
                let format = domainDisk.format ?? "raw"
                guard format == "qcow2" else {
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "internal snapshot for disk \(disk.name) unsupported for storage type \(format)")
                }
            case .external:
                let format = disk.format ?? "qcow2"
                guard format == "qcow2" else {
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "external snapshot format for disk \(disk.name) is unsupported: \(format)")
                }
                guard domainDisk.type == .file || domainDisk.type == .block || domainDisk.type == .volume, domainDisk.device == .disk else {
                    throw RemoteError(
                        code: .configUnsupported, domain: .qemu,
                        detail: "external \(active ? "active" : "inactive") snapshots are not supported on '\(domainDisk.type.rawValue)' \(domainDisk.device.rawValue)s")
                }
                guard let path = disk.path else { break }
                switch (fileKind(path), reuse) {
                case (.missing, true):
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "missing existing file for disk \(disk.name): \(path)")
                case (.regular, false), (.other, false):
                    throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "external snapshot file for disk \(disk.name) already exists and is not a block device: \(path)")
                case (.block, _) where disk.sourceType == .file:
                    throw RemoteError(
                        code: .configUnsupported, domain: .qemu, detail: "mismatch between configured type for snapshot disk '\(disk.name)' and the type of existing file '\(path)'")
                case (.block, false):
                    break  // A block device is written over, as libvirt does.
                default:
                    break
                }
                external += 1
            case .manual:
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "'manual' snapshots of disk \(disk.name) are not supported by Corral")
            case .no:
                if domainDisk.source != nil && !domainDisk.readonly { forbidInternal = true }
            }
        }
        if !foundInternal && external == 0 && snapshot.memory == DomainSnapshot.Location.no {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "nothing selected for snapshot")
        }
        if (snapshot.memory == .internal && !foundInternal) || (foundInternal && forbidInternal) {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "internal and full system snapshots require all disks to be selected for snapshot")
        }
        if snapshot.state == .diskSnapshot && external == 0 {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "disk-only snapshots require at least one disk to be selected for snapshot")
        }
        if (foundInternal && external > 0) || (snapshot.memory == .internal && external > 0) {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "mixing internal and external targets for a snapshot is not yet supported")
        }
        if foundInternal && definition.os.loader != nil && definition.os.hasNVRAM {
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "internal snapshots of a VM with pflash based firmware are not supported")
        }
        return external > 0 ? .external : .internal
    }
}

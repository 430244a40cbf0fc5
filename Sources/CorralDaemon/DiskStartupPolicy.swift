import DomainXML
import Glibc
import QEMUCommandLine
import XMLTree

/// `<source startupPolicy>` at start, as libvirt's `qemuDomainCheckDiskStartupPolicy` applies
/// it: a disk whose local source is missing fails the start unless its policy lets the guest
/// start without it. A CD-ROM or floppy drive then starts empty (and forgets the policy); another
/// disk is left out of the run. The persistent definition keeps both.
enum DiskStartupPolicy {
    /// A disk the start goes on without.
    struct Drop: Hashable, Sendable {
        /// Its position among the definition's disks.
        var index: Int
        /// The alias it has (or would have had) in the run.
        var alias: String
        /// The missing source.
        var source: String
        /// The whole disk is left out (it is no CD-ROM or floppy drive).
        var removesDisk: Bool
    }

    /// The disks of `definition` whose local source `exists` says is missing and whose policy
    /// lets this start go on without it; `coldBoot`: a fresh start (not a restore, an incoming
    /// migration or a snapshot's state). A missing source whose policy does not allow it is left
    /// for the start to fail on, as before.
    static func drops(in definition: DomainDefinition, coldBoot: Bool, exists: (String) -> Bool) -> [Drop] {
        var drops: [Drop] = []
        for (index, disk) in definition.devices.disks.enumerated() {
            guard let policy = disk.startupPolicy, disk.type == .file || disk.type == .block, let source = disk.source, !exists(source) else { continue }
            let removable = disk.device == .cdrom || disk.device == .floppy
            switch policy {
            case .mandatory: continue
            case .requisite where coldBoot: continue
            case .optional where !coldBoot && !removable: continue
            case .requisite, .optional: break
            }
            let alias = disk.alias ?? GuestDevices.generatedAlias(of: disk, position: index)
            drops.append(Drop(index: index, alias: alias, source: source, removesDisk: !removable))
        }
        return drops
    }

    /// Whether a local source is there (libvirt's `virFileExists`): blocking, a system call.
    static func sourceExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// `document` with `drops` applied: a drive's `<source>` (and its policy) gone, a disk removed.
    static func applying(_ drops: [Drop], to document: XMLElement) -> XMLElement {
        var document = document
        // From the last, so the earlier disks keep their positions.
        for drop in drops.sorted(by: { $0.index > $1.index }) {
            document = DeviceXML.editing("disk", at: drop.index, in: document) { disk in
                guard !drop.removesDisk else { return nil }
                var emptied = disk
                emptied.removeElements { $0.name == "source" && $0.namespace == nil }
                return emptied
            }
        }
        return document
    }
}

import CorralJSON
import CorralProtocol
import DomainXML
import Foundation
import Logging
import QEMUCommandLine
import QMP

/// QEMU's events about the guest itself — its clock, its watchdog, its disks' failed I/O —
/// turned into libvirt's domain events and state, as libvirt's QEMU driver does.
extension DomainDriver {
    /// `RTC_CHANGE`: the guest set its clock. A variable clock's live adjustment follows it
    /// (QEMU's offset counts from the start's base, so it is added to the adjustment then);
    /// clients get the event with the offset (the new adjustment, for a variable clock).
    func rtcChanged(offset: Int64, of record: DomainRecord) {
        let adjusted = registry.updateGuest(record.uuid) { guest -> Int64? in
            guard let atStart = guest.clockAdjustmentAtStart else { return nil }
            let (adjustment, overflow) = atStart.addingReportingOverflow(offset)
            guard !overflow else { return nil }
            guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { LiveDomainXML.setClockAdjustment(&$0, adjustment) }
            return adjustment
        } ?? nil
        if adjusted != nil { liveXMLChanged(record.uuid) }
        events.rtcChanged(record.handle, offset: adjusted ?? offset)
    }

    /// `DEVICE_TRAY_MOVED`: a drive's tray opened or closed (the guest ejected it, or a media
    /// change moved it). The live XML says so, as libvirt's does (`<target tray='open'>`);
    /// clients get the event.
    func trayMoved(alias: String, open: Bool, of record: DomainRecord) {
        let changed = registry.updateGuest(record.uuid) { guest -> Bool in
            let before = guest.liveXML
            guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { LiveDomainXML.setTray(&$0, alias: alias, open: open) }
            return guest.liveXML != before
        } ?? false
        if changed { liveXMLChanged(record.uuid) }
        events.trayChanged(record.handle, alias: alias, opened: open)
    }

    /// `WATCHDOG`: the guest's watchdog fired. Clients get the event; a pause makes the STOP
    /// that follows a pause for the watchdog; a watchdog whose action is `dump` (which QEMU
    /// takes as a pause) has the guest's memory dumped into the daemon's dump directory, then
    /// the guest runs on (libvirt's auto-dump).
    func watchdogFired(action: WatchdogEventAction, of record: DomainRecord) async {
        events.watchdogFired(record.handle, action: action)
        // Only a running guest is paused by it: a reason left for a later pause would be wrong.
        guard action == .pause, record.runtime?.lifecycle.status.state == .running else { return }
        await apply(.pauseRequested(.watchdog), to: record.uuid)
        guard let guest = record.runtime, let definition = try? DomainXMLParser.parse(guest.liveXML, options: liveOptions).definition,
            definition.devices.watchdogs.contains(where: { $0.action == .dump })
        else { return }
        let path = autoDumpPath(name: record.name, id: guest.id)
        let uuid = record.uuid, name = record.name, logger = self.logger
        Task {
            do throws(RemoteError) {
                try await self.jobs.run(name, "watchdog dump") { () async throws(RemoteError) in
                    do {
                        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    } catch {
                        throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot make the dump directory: \(error)")
                    }
                    try await self.coreDump(uuid, to: path, format: .raw, flags: [.memoryOnly, .live])
                    do throws(QMPError) { try await guest.qmp.cont() } catch {
                        throw RemoteError(code: .operationFailed, domain: .qemu, detail: "Resuming after dump failed: \(error)")
                    }
                }
                logger.notice("a watchdog fired: the guest's memory was dumped", metadata: ["name": "\(name)", "file": "\(path)"])
            } catch {
                logger.error("a watchdog fired: the dump failed", metadata: ["name": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// Where a watchdog's dump of guest `name` goes: `STATE/dump/ID-NAME-DATE` (libvirt's
    /// `auto_dump_path` naming: the short name, its first 20 characters, and the local time).
    nonisolated func autoDumpPath(name: String, id: Int32) -> String {
        var now = time(nil)
        var local = tm()
        localtime_r(&now, &local)
        let date = String(
            format: "%04d-%02d-%02d-%02d:%02d:%02d", local.tm_year + 1900, local.tm_mon + 1, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec)
        return configuration.stateDirectory + "/dump/\(id)-\(name.prefix(20))-\(date)"
    }

    /// `BLOCK_IO_ERROR`: a disk's I/O failed. Clients get `IO_ERROR` and `IO_ERROR_REASON`
    /// naming the disk (found by its block node or device, else empty names); when QEMU
    /// stopped the guest for it, the STOP that follows is a pause for an I/O error.
    func ioErrorReported(_ event: QMPEvent, of record: DomainRecord) async {
        let action = IOErrorEventAction(qemuName: event.data["action"]?.stringValue)
        let node = event.data["node-name"]?.stringValue, device = event.data["device"]?.stringValue
        let disk = record.runtime?.devices.disks.first { disk in
            if let device, !device.isEmpty { return disk.alias == device || disk.qomName == device }
            if let node { return disk.formatNode == node || disk.storageNode == node }
            return false
        }
        let reason = event.data["nospace"]?.boolValue == true ? "enospc" : ""
        // QEMU reports every failed request; only the first, while the guest runs, is its pause.
        if action == .pause, record.runtime?.lifecycle.status.state == .running { await apply(.pauseRequested(.ioError), to: record.uuid) }
        events.ioError(record.handle, sourcePath: disk?.source ?? "", alias: disk?.alias ?? "", action: action, reason: reason)
    }
}

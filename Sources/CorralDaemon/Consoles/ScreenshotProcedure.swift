import CorralJSON
import CorralProtocol
import CorralStorage
import Foundation
import QMP
import XMLTree

/// `virsh screenshot`: QEMU writes the guest's display to a file in the domain's run directory
/// (`screendump`, PNG), and the file goes to the client over a stream, then is removed.
enum ScreenshotProcedure {
    static func register(in table: inout ProcedureTable, registry: DomainRegistry, jobs: DomainJobs) {
        table.registerStream(Remote.DomainScreenshot.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainScreenshot")
            let record = try registry.record(for: arguments.dom)
            guard let guest = record.runtime else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
            }
            // Each video device's id (its alias, as the command line named it) and head count.
            let videos = (try? XMLTreeParser.parse(guest.liveXML))?.element(named: "devices")?.elements(named: "video").enumerated().map { index, video in
                (id: video.element(named: "alias")?[attribute: "name"] ?? "video\(index)", heads: min(64, max(1, video.element(named: "model")?[attribute: "heads"].flatMap { Int($0) } ?? 1)))
            } ?? []
            let heads = videos.map(\.heads)
            guard !heads.isEmpty else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "no screens to take screenshot from")
            }
            guard arguments.screen < UInt32(heads.reduce(0, +)) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "no screen \(arguments.screen) found")
            }
            let path = guest.runDirectory + "/screenshot-\(UInt32.random(in: 1...UInt32.max)).png"
            try await jobs.run(record.name, "remoteDispatchDomainScreenshot") { () async throws(RemoteError) in
                do throws(QMPError) {
                    var members: [(String, JSONValue)] = [("filename", .string(path)), ("format", .string("png"))]
                    if arguments.screen > 0 {
                        // QEMU names a screen by its device and that device's head.
                        var head = Int(arguments.screen)
                        for video in videos {
                            if head < video.heads {
                                members += [("device", .string(video.id)), ("head", .number(JSONNumber(Int64(head))))]
                                break
                            }
                            head -= video.heads
                        }
                    }
                    _ = try await guest.qmp.execute("screendump", arguments: .object(members))
                } catch {
                    unlink(path)
                    throw GuestStatistics.monitorFailure(error)
                }
            }
            let source: VolumeDownloadSource
            do throws(StorageError) {
                source = try VolumeDownloadSource(path: path, offset: 0, length: 0, sparse: false) { unlink(path) }
            } catch {
                unlink(path)
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "cannot read the screenshot: \(error)")
            }
            return (.init(mime: "image/png"), source)
        }
    }
}

import DomainXML
import Foundation
import POSIXSupport
import QEMUCommandLine

/// The virtiofsd processes of a guest's virtiofs shares, run as libvirt runs them: the daemon
/// makes each share's vhost-user socket (`RUN/ALIAS-fs.sock`) and listens on it, then starts
/// virtiofsd with the listening descriptor, so QEMU can connect the moment it starts. virtiofsd
/// ends by itself when QEMU closes the connection; its output goes to `RUN/ALIAS-virtiofsd.log`,
/// and `RUN/ALIAS-fs.pid` names it (with its start time, so a later process that reuses the pid
/// is never taken for it) for a daemon that has to clean up after a guest it did not start.
enum VirtioFSDaemons {
    struct Failure: Error {
        var message: String
    }

    /// Where the host's vhost-user backend descriptors are, most preferred first (QEMU's
    /// firmware-descriptor convention, which libvirt follows for `type: fs`).
    static let descriptorDirectories = ["/etc/qemu/vhost-user", "/usr/share/qemu/vhost-user"]

    /// The virtiofsd a share without `<binary path>` runs: the first descriptor of type `fs`
    /// by file name (a name in an earlier directory hides the same name in a later one).
    static func defaultBinary(directories: [String] = descriptorDirectories) -> String? {
        var byName: [String: String] = [:]
        for directory in directories.reversed() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".json") {
                byName[name] = directory + "/" + name
            }
        }
        for name in byName.keys.sorted() {
            guard let data = FileManager.default.contents(atPath: byName[name] ?? ""),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                object["type"] as? String == "fs", let binary = object["binary"] as? String
            else { continue }
            return binary
        }
        return nil
    }

    /// The shares of `definition` whose virtiofsd the daemon starts, with their aliases.
    static func shares(of definition: DomainDefinition) -> [(alias: String, filesystem: DomainDefinition.Filesystem)] {
        let aliases = DeviceAliases.counted("fs", given: definition.devices.filesystems.map(\.alias))
        return definition.devices.filesystems.enumerated().compactMap { index, filesystem in
            guard filesystem.driver == .virtiofs, filesystem.sourceSocket == nil else { return nil }
            return (aliases[index], filesystem)
        }
    }

    /// Starts a virtiofsd for each share (blocking: run it off the event loops); stops those it
    /// started when one fails.
    /// Returns them, and the virtiofsd the shares without `<binary path>` run (the live XML
    /// names it, as libvirt's does).
    static func start(for definition: DomainDefinition, context: CommandLineContext) throws(Failure) -> (processes: [WatchedProcess], defaultBinary: String?) {
        var started: [WatchedProcess] = []
        let defaultBinary = shares(of: definition).contains { $0.filesystem.virtioFSDaemon.path == nil } ? defaultBinary() : nil
        for share in shares(of: definition) {
            do throws(Failure) {
                started.append(try start(share.filesystem, alias: share.alias, socket: context.virtioFSSocket(alias: share.alias), directory: context.runDirectory, defaultBinary: defaultBinary))
            } catch {
                for process in started { process.signal(SIGTERM) }
                throw error
            }
        }
        return (started, defaultBinary)
    }

    static func start(_ filesystem: DomainDefinition.Filesystem, alias: String, socket: String, directory: String, defaultBinary: String?) throws(Failure) -> WatchedProcess {
        guard let binary = filesystem.virtioFSDaemon.path ?? defaultBinary else {
            throw Failure(message: "Unable to find a satisfying virtiofsd")
        }
        guard access(binary, X_OK) == 0 else { throw Failure(message: "virtiofsd binary '\(binary)' is not executable") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: filesystem.source, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure(message: "the virtiofs export directory '\(filesystem.source)' does not exist")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(message: "cannot create \(directory): \(error.localizedDescription)")
        }
        let listening: Int32
        do throws(SystemError) {
            listening = try UnixSocket.listen(socket)
        } catch {
            throw Failure(message: "cannot make the virtiofs socket: \(error.description)")
        }
        defer { close(listening) }
        let logPath = directory + "/\(alias)-virtiofsd.log"
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw Failure(message: "failed to create logfile \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(log) }
        let arguments = VirtioFSDaemonCommandLine.arguments(filesystem, descriptor: 3)
        let header = "\(binary) \(arguments.joined(separator: " "))\n"
        _ = header.withCString { write(log, $0, strlen($0)) }
        let process: WatchedProcess
        do throws(SystemError) {
            let child = try ChildProcess.spawn(
                binary, arguments, standardInput: .null, standardOutput: .descriptor(log), standardError: .descriptor(log), newSession: true, passing: [listening])
            process = try ProcessReaper.shared.watch(child.pid, isChild: true)
        } catch {
            unlink(socket)
            throw Failure(message: "Could not start 'virtiofsd': \(error.description)")
        }
        let identity = "\(process.pid) \(startTime(of: process.pid) ?? 0)\n"
        try? DefinitionStore.atomicWrite(path: pidFile(directory: directory, alias: alias), contents: Array(identity.utf8), durable: false)
        return process
    }

    static func pidFile(directory: String, alias: String) -> String { directory + "/\(alias)-fs.pid" }

    /// Stops the virtiofsd processes the pid files of `directory` name and still run, and
    /// removes the pid files and sockets (blocking).
    static func stopAll(in directory: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for entry in entries where entry.hasSuffix("-fs.pid") {
            let path = directory + "/" + entry
            if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                let fields = text.split(whereSeparator: \.isWhitespace)
                if fields.count == 2, let pid = pid_t(fields[0]), pid > 0, let started = UInt64(fields[1]), startTime(of: pid) == started {
                    kill(pid, SIGTERM)
                }
            }
            unlink(path)
        }
        for entry in entries where entry.hasSuffix("-fs.sock") { unlink(directory + "/" + entry) }
    }

    /// The start time of `pid` in clock ticks since boot (`/proc/PID/stat`, field 22).
    static func startTime(of pid: pid_t) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let fields = ProcessStatistics.statFields(stat), fields.count > 19 else {
            return nil
        }
        return UInt64(fields[19])
    }
}

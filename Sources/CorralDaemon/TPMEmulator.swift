import DomainXML
import Foundation
import POSIXSupport

/// The host side of an emulated TPM, as libvirt runs it: `swtpm_setup` makes the TPM's state
/// (with its endorsement key and certificates) the first time the domain starts, and `swtpm`
/// serves it on a control socket QEMU connects to. `--terminate` ends `swtpm` when QEMU closes
/// the socket, so the emulator lives exactly as long as the guest.
///
/// The state lives with the daemon's state, one directory per domain UUID
/// (`STATE/swtpm/UUID/tpm2` or `…/tpm1.2`, libvirt's layout under its own directory), so it
/// follows the domain across restarts and is removed when the domain is undefined, unless the
/// TPM's `persistent_state` or the caller's flag keeps it.
enum TPMEmulator {
    struct Failure: Error {
        var message: String
    }

    /// The programs, found in the daemon's `PATH` as libvirt finds them.
    static func program(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where access("\(directory)/\(name)", X_OK) == 0 { return "\(directory)/\(name)" }
        return nil
    }

    /// The directory holding every emulated TPM state of the domain with `uuid`.
    static func domainStateDirectory(stateDirectory: String, uuid: String) -> String { "\(stateDirectory)/swtpm/\(uuid)" }

    /// The state directory of one TPM version.
    static func stateDirectory(stateDirectory: String, uuid: String, version: DomainDefinition.TPM.Version) -> String {
        domainStateDirectory(stateDirectory: stateDirectory, uuid: uuid) + (version == .v2_0 ? "/tpm2" : "/tpm1.2")
    }

    /// Starts the emulator for `tpm` of the domain `name`/`uuid` (blocking: run it off the event
    /// loops): makes its state on first use, activates the PCR banks a TPM 2.0 names (when
    /// `reconfigures`: not for an incoming migration's state), then `swtpm` listening on
    /// `socket`. Returns the emulator's pid, which the caller kills if QEMU does not start.
    ///
    /// `secret`: the value of the TPM's `<encryption>` secret, which encrypts its state (swtpm's
    /// AES-256-CBC, as libvirt asks for it); each program reads it from a pipe of its own.
    static func start(
        _ tpm: DomainDefinition.TPM, name: String, uuid: String, stateDirectory: String, socket: String, runDirectory: String, reconfigures: Bool = true,
        secret: [UInt8]? = nil
    ) throws(Failure) -> pid_t {
        guard let swtpm = program("swtpm") else { throw Failure(message: "Unable to find 'swtpm' binary in $PATH: No such file or directory") }
        guard let setup = program("swtpm_setup") else { throw Failure(message: "Unable to find 'swtpm_setup' binary in $PATH: No such file or directory") }
        // swtpm's options are comma-separated with no escaping: a path with a comma cannot be said.
        let state = Self.stateDirectory(stateDirectory: stateDirectory, uuid: uuid, version: tpm.version)
        let log = runDirectory + "/swtpm.log", pidFile = runDirectory + "/swtpm.pid"
        for path in [state, socket, log, pidFile] where path.contains(",") {
            throw Failure(message: "the TPM emulator cannot use the path '\(path)': it contains a comma")
        }
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: runDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(message: "cannot create \(runDirectory): \(error.localizedDescription)")
        }
        if !files.fileExists(atPath: state) {
            do {
                try files.createDirectory(atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw Failure(message: "cannot create the TPM state directory \(state): \(error.localizedDescription)")
            }
            var arguments = tpm.version == .v2_0 ? ["--tpm2"] : []
            let passphrase = try secret.map(Self.secretPipe)
            defer { if let passphrase { close(passphrase) } }
            if passphrase != nil { arguments += ["--pwdfile-fd", "3", "--cipher", "aes-256-cbc"] }
            arguments += [
                "--tpm-state", state, "--vmid", "\(name):\(uuid)", "--logfile", log, "--createek", "--create-ek-cert", "--create-platform-cert",
                "--lock-nvram", "--not-overwrite",
            ]
            let result = runSetup(setup, arguments, passing: passphrase.map { [$0] } ?? [], log: log, timeout: 120)
            guard result.status == 0 else {
                // Made again at the next start rather than left half-made.
                try? files.removeItem(atPath: state)
                throw Failure(message: "Could not run '\(setup)'. exitstatus: \(result.status ?? -1); \(result.logError.map { $0 + "; " } ?? "")Check error log '\(log)' for details.")
            }
        }
        if reconfigures && tpm.version == .v2_0 && !tpm.activePCRBanks.isEmpty {
            // libvirt's qemuTPMEmulatorReconfigure: the banks on the existing state, every start.
            let passphrase = try secret.map(Self.secretPipe)
            defer { if let passphrase { close(passphrase) } }
            let arguments = ["--tpm2"] + (passphrase != nil ? ["--pwdfile-fd", "3", "--cipher", "aes-256-cbc"] : [])
                + ["--tpm-state", state, "--logfile", log, "--pcr-banks", tpm.activePCRBanks.map(\.rawValue).joined(separator: ","), "--reconfigure"]
            let result = runSetup(setup, arguments, passing: passphrase.map { [$0] } ?? [], log: log, timeout: 120)
            guard result.status == 0 else {
                throw Failure(
                    message: "Could not run '\(setup) --reconfigure'. exitstatus: \(result.status ?? -1); \(result.logError.map { $0 + "; " } ?? "")Check error log '\(log)' for details.")
            }
        }
        unlink(socket)
        unlink(pidFile)
        var arguments = [
            "socket", "--ctrl", "type=unixio,path=\(socket),mode=0600", "--tpmstate", "dir=\(state),mode=0600", "--log", "file=\(log)",
            "--terminate", "--daemon", "--pid", "file=\(pidFile)",
        ]
        if tpm.version == .v2_0 { arguments.append("--tpm2") }
        // The state's key, and the key of the state a migration carries: the same secret, each
        // read from a pipe of its own.
        var keys: [Int32] = []
        defer { for key in keys { close(key) } }
        if let secret {
            keys = [try Self.secretPipe(secret), try Self.secretPipe(secret)]
            arguments += ["--key", "pwdfd=3,mode=aes-256-cbc", "--migration-key", "pwdfd=4,mode=aes-256-cbc"]
        }
        // With --daemon, swtpm returns once its socket listens.
        let result = try? ChildProcess.run(swtpm, arguments, timeout: 30, passing: keys)
        guard let result, result.status == 0 else {
            throw Failure(message: "Could not start '\(swtpm)': \(result.map { $0.standardError.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "it did not run"); Check error log '\(log)' for details.")
        }
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            throw Failure(message: "'\(swtpm)' started but wrote no pid to \(pidFile)")
        }
        return pid
    }

    /// Runs `swtpm_setup` to completion, or until its log says the TPM could not start, or
    /// `timeout` seconds: when the emulator it runs fails (a state that another passphrase
    /// encrypted), swtpm_setup 0.7 waits forever on it, as it keeps both ends of their socket.
    /// Returns its exit status (`nil`: stopped here) and the log's first error of this run.
    static func runSetup(_ setup: String, _ arguments: [String], passing: [Int32], log: String, timeout: Double) -> (status: Int32?, logError: String?) {
        let logStart = (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0
        func logError() -> String? {
            guard let handle = FileHandle(forReadingAtPath: log) else { return nil }
            defer { try? handle.close() }
            try? handle.seek(toOffset: UInt64(logStart))
            let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
            let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            return lines.first { $0.contains("Data integrity is compromised") } ?? lines.first { $0.hasPrefix("Error") || $0.contains("rror:") }
        }
        guard let child = try? ChildProcess.spawn(setup, arguments, standardInput: .null, standardOutput: .null, standardError: .null, passing: passing) else {
            return (nil, nil)
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let termination = child.wait(timeout: 0.1) { return (termination.status, termination.status == 0 ? nil : logError()) }
            // The emulator swtpm_setup ran could not start: it will not finish.
            if let error = logError(), error.contains("Could not initialize libtpms") || error.contains("Data integrity is compromised") {
                child.signal(SIGKILL)
                _ = child.wait()
                return (nil, error)
            }
        }
        child.signal(SIGKILL)
        _ = child.wait()
        return (nil, logError() ?? "it did not finish in \(Int(timeout)) seconds")
    }

    /// The read end of a pipe holding `secret`, written and closed (a secret fits in a pipe's
    /// buffer: libvirt's secrets are at most a few kilobytes; a larger one is refused).
    static func secretPipe(_ secret: [UInt8]) throws(Failure) -> Int32 {
        guard secret.count <= 4096 else { throw Failure(message: "the TPM's encryption secret is longer than 4096 bytes") }
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw Failure(message: "cannot make a pipe for the TPM's secret: \(String(cString: strerror(errno)))") }
        // Not inherited by other children: only the spawn that passes it hands it on.
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        let written = secret.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
        close(ends[1])
        guard written == secret.count else {
            close(ends[0])
            throw Failure(message: "cannot pass the TPM's secret: \(String(cString: strerror(errno)))")
        }
        return ends[0]
    }

    /// Removes the emulated TPM state of the domain with `uuid` (blocking).
    static func removeState(stateDirectory: String, uuid: String) {
        try? FileManager.default.removeItem(atPath: domainStateDirectory(stateDirectory: stateDirectory, uuid: uuid))
    }
}

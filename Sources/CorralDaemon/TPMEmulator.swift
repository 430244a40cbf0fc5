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
    static func start(
        _ tpm: DomainDefinition.TPM, name: String, uuid: String, stateDirectory: String, socket: String, runDirectory: String, reconfigures: Bool = true
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
            arguments += [
                "--tpm-state", state, "--vmid", "\(name):\(uuid)", "--logfile", log, "--createek", "--create-ek-cert", "--create-platform-cert",
                "--lock-nvram", "--not-overwrite",
            ]
            let result = try? ChildProcess.run(setup, arguments, timeout: 120)
            guard let result, result.status == 0 else {
                // Made again at the next start rather than left half-made.
                try? files.removeItem(atPath: state)
                throw Failure(message: "Could not run '\(setup)'. exitstatus: \(result?.status ?? -1); Check error log '\(log)' for details.")
            }
        }
        if reconfigures && tpm.version == .v2_0 && !tpm.activePCRBanks.isEmpty {
            // libvirt's qemuTPMEmulatorReconfigure: the banks on the existing state, every start.
            let arguments = ["--tpm2", "--tpm-state", state, "--logfile", log, "--pcr-banks", tpm.activePCRBanks.map(\.rawValue).joined(separator: ","), "--reconfigure"]
            let result = try? ChildProcess.run(setup, arguments, timeout: 120)
            guard let result, result.status == 0 else {
                throw Failure(message: "Could not run '\(setup) --reconfigure'. exitstatus: \(result?.status ?? -1); Check error log '\(log)' for details.")
            }
        }
        unlink(socket)
        unlink(pidFile)
        var arguments = [
            "socket", "--ctrl", "type=unixio,path=\(socket),mode=0600", "--tpmstate", "dir=\(state),mode=0600", "--log", "file=\(log)",
            "--terminate", "--daemon", "--pid", "file=\(pidFile)",
        ]
        if tpm.version == .v2_0 { arguments.append("--tpm2") }
        // With --daemon, swtpm returns once its socket listens.
        let result = try? ChildProcess.run(swtpm, arguments, timeout: 30)
        guard let result, result.status == 0 else {
            throw Failure(message: "Could not start '\(swtpm)': \(result.map { $0.standardError.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "it did not run"); Check error log '\(log)' for details.")
        }
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            throw Failure(message: "'\(swtpm)' started but wrote no pid to \(pidFile)")
        }
        return pid
    }

    /// Removes the emulated TPM state of the domain with `uuid` (blocking).
    static func removeState(stateDirectory: String, uuid: String) {
        try? FileManager.default.removeItem(atPath: domainStateDirectory(stateDirectory: stateDirectory, uuid: uuid))
    }
}

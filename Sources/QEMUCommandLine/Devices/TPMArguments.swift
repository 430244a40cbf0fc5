import CorralJSON
import DomainXML

extension Builder {
    /// TPMs: a `-tpmdev` (`tpm-tpmN`) on the emulator's or an external socket (`chrtpm`), or on
    /// the host's TPM, and the guest's interface (`tpmN`).
    mutating func addTPMs() throws(CommandLineError) {
        for (index, tpm) in domain.devices.tpms.enumerated() {
            // The spapr models and TPM 1.2 over CRB are refused by DefinitionChecks.
            let alias = DeviceAliases.positional("tpm", given: tpm.alias, position: index)
            switch tpm.backend {
            case .emulator, .external:
                let socket = tpm.backend == .emulator ? context.tpmEmulatorSocket : (tpm.path ?? "")
                add("-chardev", try QEMUKeyValue.render("socket", [("id", "chrtpm"), ("path", socket)]))
                add("-tpmdev", try QEMUKeyValue.render("emulator", [("id", "tpm-\(alias)"), ("chardev", "chrtpm")]))
            case .passthrough:
                add("-tpmdev", try QEMUKeyValue.render("passthrough", [("id", "tpm-\(alias)"), ("path", tpm.path ?? "/dev/tpm0")]))
            }
            addDevice([("driver", .string(tpm.model.rawValue)), ("tpmdev", .string("tpm-\(alias)")), ("id", .string(alias))])
        }
    }
}

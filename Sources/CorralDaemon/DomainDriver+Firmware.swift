import Glibc
import CorralProtocol
import DomainXML
import Foundation
import QEMUProbe
import XMLTree

extension DomainDriver {
    /// Where the guests' UEFI variable stores live (`NAME_VARS.fd`, libvirt's naming).
    nonisolated var nvramDirectory: String { configuration.stateDirectory + "/nvram" }

    /// `definition` with its firmware decided, as libvirt decides it at start (blocking: it
    /// reads the host's firmware descriptors and copies files):
    ///
    /// - `<os firmware='efi'>` without a loader takes the first firmware descriptor (in the
    ///   specification's order) that is UEFI for the guest's machine and meets its
    ///   `<firmware><feature>`s and its SMM setting; a Secure Boot build switches SMM on.
    /// - A pflash loader gets its variable store: `nvram` defaults to
    ///   `STATE/nvram/NAME_VARS.fd`, made from the template (the definition's, else the
    ///   descriptor's of that loader) when missing, or anew when `resetNVRAM`; a stateless
    ///   loader (`<loader stateless='yes'>`) gets none, and takes only a stateless flash; a preview
    ///   (`writesFiles` false, for `domxml-to-native`) decides the same without copying.
    nonisolated func resolveFirmware(_ definition: DomainDefinition, resetNVRAM: Bool, writesFiles: Bool = true) throws(RemoteError) -> DomainDefinition {
        var resolved = definition
        var os = definition.os
        let descriptors = os.firmware == .efi || os.loader?.type == .pflash ? FirmwareDescriptor.installed() : []
        let stateless = os.loader?.stateless == true
        if os.firmware == .efi && (os.loader?.path ?? "").isEmpty {
            let required = Set(os.firmwareFeatures.filter(\.value).keys), excluded = Set(os.firmwareFeatures.filter { !$0.value }.keys)
            guard let chosen = FirmwareDescriptor.selectUEFI(
                from: descriptors, architecture: os.arch, machine: os.machine ?? "", required: required, excluded: excluded, smmOff: definition.features.smm == .off,
                stateless: stateless)
            else {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "Unable to find any firmware to satisfy 'efi'")
            }
            os.loader = DomainDefinition.Loader(path: chosen.executable, readonly: true, type: .pflash, secure: chosen.requiresSMM, stateless: os.loader?.stateless)
            if os.nvramTemplate == nil && !stateless { os.nvramTemplate = chosen.nvramTemplate }
            if chosen.requiresSMM { resolved.features.smm = .on }
        }
        if let loader = os.loader, loader.type == .pflash || os.firmware == .efi, loader.readonly, !stateless {
            if !os.hasNVRAM { os.nvram = nvramDirectory + "/" + definition.name + "_VARS.fd" }
            if os.nvramTemplate == nil { os.nvramTemplate = descriptors.first { $0.executable == loader.path }?.nvramTemplate }
        }
        // A file store is made from its template (libvirt's qemuPrepareNVRAM); a block device is
        // there already and a network store is the server's.
        if writesFiles, os.nvramIsFile, let nvram = os.nvram, resetNVRAM || !FileManager.default.fileExists(atPath: nvram) {
            guard let template = os.nvramTemplate else {
                if resetNVRAM { throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "unable to find any master var store for loader: \(os.loader?.path ?? "")") }
                resolved.os = os
                return resolved
            }
            try Self.copyVariableStore(from: template, to: nvram)
        }
        resolved.os = os
        return resolved
    }

    /// Copies a variable store template to a guest's store (mode 0600, replacing any old one).
    nonisolated static func copyVariableStore(from template: String, to nvram: String) throws(RemoteError) {
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: (nvram as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let partial = nvram + ".new"
            try? files.removeItem(atPath: partial)
            try files.copyItem(atPath: template, toPath: partial)
            chmod(partial, 0o600)
            guard Glibc.rename(partial, nvram) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "Failed to create NVRAM file '\(nvram)' from template '\(template)': \(error.localizedDescription)")
        }
    }

    /// `<smbios mode='host'>`: the host's SMBIOS tables, read now (blocking: runs dmidecode),
    /// become the guest's, without the host's UUID.
    nonisolated static func resolveHostSMBIOS(_ definition: DomainDefinition) throws(RemoteError) -> DomainDefinition {
        guard definition.os.smbiosMode == .host else { return definition }
        let text = try HostSysinfo.read()
        var resolved = definition
        guard let document = try? XMLTreeParser.parse(text) else {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "Host SMBIOS information is not available")
        }
        do throws(DomainXMLError) {
            resolved.sysinfo = try DomainDefinition.Sysinfo.host(document)
        } catch {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "Host SMBIOS information is not available: \(error.message)")
        }
        return resolved
    }
}

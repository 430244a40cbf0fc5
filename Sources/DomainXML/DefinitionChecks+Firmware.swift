extension DefinitionChecks {
    /// libvirt's checks of `<loader stateless>` against the variable store (its domain
    /// validation): a stateless loader has neither `<nvram>` nor a template, and only EFI
    /// firmware, or a pflash loader, may say it is not stateless.
    static func checkStateless(_ os: DomainDefinition.OperatingSystem) throws(DomainXMLError) {
        switch os.loader?.stateless {
        case true?:
            if os.nvramTemplate != nil { throw DomainXMLError(.detail, "NVRAM template is not permitted when loader is stateless") }
            if os.hasNVRAM { throw DomainXMLError(.detail, "NVRAM is not permitted when loader is stateless") }
        case false?:
            if let firmware = os.firmware {
                if firmware != .efi { throw DomainXMLError(.detail, "Only EFI firmware permits NVRAM") }
            } else if os.loader?.type != .pflash {
                throw DomainXMLError(.detail, "Only pflash loader type permits NVRAM")
            }
        case nil:
            break
        }
    }
}

extension DefinitionChecks {
    /// The QEMU driver's check of the variable store's type (`qemuValidateDomainDefNvram`): a
    /// file, a block device or a network source.
    static func checkNVRAMType(_ os: DomainDefinition.OperatingSystem) throws(DomainXMLError) {
        switch os.nvramType {
        case .dir?, .volume?, .nvme?, .vhostuser?:
            throw DomainXMLError(.unsupported, "unsupported nvram disk type '\(os.nvramType!.rawValue)'")
        case .file?, .block?, .network?, nil:
            break
        }
    }
}

extension DefinitionChecks {
    /// libvirt's checks of a `<filesystem>` (`qemuValidateDomainDeviceDefFS`), in its order and
    /// with its messages.
    static func check(_ filesystem: DomainDefinition.Filesystem, of definition: DomainDefinition) throws(DomainXMLError) {
        // libvirt's "sandbox can only be used with driver=virtiofs" cannot happen: `<binary>` is
        // read for virtiofs shares only.
        if filesystem.driver != .virtiofs, filesystem.fileMode != nil || filesystem.directoryMode != nil, filesystem.accessMode != .mapped {
            throw DomainXMLError(.unsupported, "fmode and dmode must be used with accessmode=mapped")
        }
        guard filesystem.driver == .virtiofs else { return }
        if filesystem.fileMode != nil || filesystem.directoryMode != nil { throw DomainXMLError(.unsupported, "virtiofs does not support fmode and dmode") }
        if filesystem.sourceSocket == nil {
            // Settings of the virtiofsd the daemon starts; one on someone else's socket is theirs.
            if filesystem.readonly { throw DomainXMLError(.unsupported, "virtiofs does not yet support read-only mode") }
            if filesystem.accessMode != .passthrough { throw DomainXMLError(.unsupported, "virtiofs only supports passthrough accessmode") }
            if filesystem.writePolicy != nil { throw DomainXMLError(.unsupported, "virtiofs does not support wrpolicy") }
        }
        if let multidevs = filesystem.multipleDevices, multidevs != .default {
            throw DomainXMLError(.unsupported, "virtiofs does not support multidevs")
        }
        if !hasSharedMemory(definition) { throw DomainXMLError(.unsupported, "'virtiofs' requires shared memory") }
    }
}

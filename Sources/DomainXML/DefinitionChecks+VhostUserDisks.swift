extension DefinitionChecks {
    /// libvirt's checks of a `vhostuser` disk (`virDomainDiskVhostUserValidate`, then the QEMU
    /// driver's shared-memory rule), in its order and with its messages: QEMU hands the whole
    /// disk to the vhost-user-blk server, so nothing of QEMU's block layer applies.
    static func checkVhostUser(_ disk: DomainDefinition.Disk, of definition: DomainDefinition) throws(DomainXMLError) {
        guard disk.type == .vhostuser else { return }
        let refusals: [(Bool, String)] = [
            (disk.targetBus != .virtio, "vhostuser disk supports only virtio bus"),
            ((disk.snapshotLocation ?? .no) != .no, "only snapshot=no is supported with vhostuser disk"),
            (disk.cache != nil, "cache is not supported with vhostuser disk"),
            (disk.errorPolicy != nil || disk.readErrorPolicy != nil, "error_policy is not supported with vhostuser disk"),
            (disk.io != nil, "io is not supported with vhostuser disk"),
            (disk.ioEventFD != nil, "ioeventfd is not supported with vhostuser disk"),
            (disk.copyOnRead != nil, "copy_on_read is not supported with vhostuser disk"),
            (disk.discard != nil, "discard is not supported with vhostuser disk"),
            (disk.ioThread != nil, "iothread is not supported with vhostuser disk"),
            (disk.detectZeroes != nil, "detect_zeroes is not supported with vhostuser disk"),
            (disk.metadataCacheBytes != nil, "metadata_cache is not supported with vhostuser disk"),
            (disk.ioTune != nil, "iotune is not supported with vhostuser disk"),
            (!disk.backingChain.isEmpty || disk.endsChain, "backingStore is not supported with vhostuser disk"),
            (disk.encryption != nil, "encryption is not supported with vhostuser disk"),
            (disk.readonly, "readonly is not supported with vhostuser disk"),
            (disk.shareable, "shareable is not supported with vhostuser disk"),
            (disk.transient, "transient is not supported with vhostuser disk"),
            (disk.serial != nil, "serial is not supported with vhostuser disk"),
            (disk.wwn != nil, "wwn is not supported with vhostuser disk"),
            (disk.vendor != nil, "vendor is not supported with vhostuser disk"),
            (disk.product != nil, "product is not supported with vhostuser disk"),
        ]
        if let refusal = refusals.first(where: \.0) { throw DomainXMLError(.unsupported, refusal.1) }
        if !hasSharedMemory(definition) { throw DomainXMLError(.unsupported, "'vhostuser' requires shared memory") }
    }
}

extension DefinitionChecks {
    /// libvirt's checks of a disk's virtio-only settings (`virDomainDiskDefValidate`) and of its
    /// rotation rate (the QEMU driver's), with their messages.
    static func checkVirtioOnlySettings(_ disk: DomainDefinition.Disk) throws(DomainXMLError) {
        if disk.targetBus != .virtio {
            if disk.queues != nil { throw DomainXMLError(.unsupported, "queues attribute in disk driver element is only supported by virtio-blk") }
            if disk.eventIndex != nil { throw DomainXMLError(.unsupported, "disk event_idx mode supported only for virtio bus") }
            if disk.ioEventFD != nil { throw DomainXMLError(.unsupported, "disk ioeventfd mode supported only for virtio bus") }
        }
        if disk.rotationRate != nil {
            guard [.scsi, .ide, .sata].contains(disk.targetBus) else { throw DomainXMLError(.internalError, "rotation rate is only valid for SCSI/IDE/SATA bus") }
            guard disk.device == .disk else { throw DomainXMLError(.internalError, "rotation rate is only valid for disk device") }
        }
    }
}

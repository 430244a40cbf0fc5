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

    /// The QEMU driver's define-time checks of copy-on-read (`qemuValidateDomainDeviceDefDiskFrontend`)
    /// and of metadata cache sizes (`qemuDomainValidateStorageSource`, for the image and each
    /// described layer), with its messages.
    static func checkCopyOnReadAndMetadataCache(_ disk: DomainDefinition.Disk) throws(DomainXMLError) {
        if disk.copyOnRead == true {
            if disk.readonly { throw DomainXMLError(.unsupported, "copy_on_read is not compatible with read-only disk '\(disk.targetDevice)'") }
            if disk.device == .cdrom || disk.device == .floppy {
                throw DomainXMLError(.unsupported, "copy_on_read is not supported with removable disk '\(disk.targetDevice)'")
            }
        }
        let formats = [(disk.metadataCacheBytes, disk.format)] + disk.backingChain.map { ($0.metadataCacheBytes, Optional($0.format)) }
        if formats.contains(where: { $0.0 != nil && $0.1 != "qcow2" }) {
            throw DomainXMLError(.unsupported, "metadata cache max size control is supported only with qcow2 images")
        }
    }
}

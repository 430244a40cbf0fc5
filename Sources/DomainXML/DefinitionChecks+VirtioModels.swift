extension DefinitionChecks {
    /// libvirt's checks of the virtio `model`s of disks, filesystems and inputs, with its
    /// messages: a disk's only on the virtio bus, none on a virtiofs share, an input's only on
    /// the virtio bus, and never a transitional one (QEMU has no such input device).
    static func checkVirtioModels(_ definition: DomainDefinition) throws(DomainXMLError) {
        for disk in definition.devices.disks where disk.model != nil && disk.targetBus != .virtio {
            throw DomainXMLError(.unsupported, "disk model '\(disk.model?.rawValue ?? "")' not supported for bus '\(disk.targetBus.rawValue)'")
        }
        for filesystem in definition.devices.filesystems where filesystem.model != nil && filesystem.driver == .virtiofs {
            throw DomainXMLError(.unsupported, "virtiofs does not support model")
        }
        for input in definition.devices.inputs {
            guard let model = input.model else { continue }
            guard input.bus == .virtio else {
                throw DomainXMLError(.unsupported, "only bus 'virtio' is supported for input model '\(model.rawValue)'")
            }
            if model != .virtio {
                throw DomainXMLError(.unsupported, "virtio (non-)transitional models are not supported for input type=\(input.type.rawValue)")
            }
        }
    }
}

extension DefinitionChecks {
    /// The QEMU driver's checks of mediated devices (`qemuValidateDomainMdevDef`), in its words:
    /// vfio-pci ones do not boot and need a graphics device for `display='on'`; vfio-ap and
    /// vfio-ccw devices are s390's, which x86 QEMU does not have.
    static func checkMediatedDevices(_ definition: DomainDefinition) throws(DomainXMLError) {
        for hostDevice in definition.devices.hostDevices {
            guard let mediated = hostDevice.mediated else { continue }
            switch mediated.model {
            case .vfioPCI:
                if hostDevice.bootOrder != nil {
                    throw DomainXMLError(.unsupported, "booting from assigned devices is not supported by mediated devices of model vfio-pci")
                }
                if mediated.display == true && definition.devices.graphics.isEmpty {
                    throw DomainXMLError(.unsupported, "graphics device is needed for attribute value 'display=on' in <hostdev>")
                }
            case .vfioAP:
                throw DomainXMLError(.unsupported, "VFIO AP device assignment is not supported by this version of QEMU")
            case .vfioCCW:
                throw DomainXMLError(.unsupported, "VFIO CCW device assignment is not supported by this version of QEMU")
            }
        }
    }
}

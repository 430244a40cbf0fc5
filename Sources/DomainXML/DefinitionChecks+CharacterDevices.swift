extension DefinitionChecks {
    /// libvirt's check of every character device's host side (`qemuValidateDomainChrSourceDef`)
    /// that Corral does not make elsewhere: a SPICE channel or port needs SPICE graphics. It
    /// covers serial, parallel, console and channel devices, a passthrough smartcard, an RNG's
    /// EGD source and a redirected USB device, as libvirt's does.
    static func checkCharacterDeviceSources(_ definition: DomainDefinition) throws(DomainXMLError) {
        let devices = definition.devices
        guard !devices.graphics.contains(where: { $0.type == .spice }) else { return }
        let sources = devices.serials + devices.parallels + devices.consoles + devices.channels
            + devices.smartcards.compactMap(\.characterDevice) + devices.rngs.compactMap(\.egdSource)
            + devices.redirectedDevices.map(\.characterDevice)
        for source in sources where source.type == .spicevmc || source.type == .spiceport {
            throw DomainXMLError(.unsupported, "chardev '\(source.type.rawValue)' not supported without spice graphics")
        }
    }
}

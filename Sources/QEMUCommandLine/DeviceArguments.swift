import CorralJSON
import DomainXML

extension Builder {
    /// The devices of a domain as `-blockdev`, `-netdev`, `-chardev`, `-object` and `-device`
    /// options, with libvirt's alias names as ids (or the user's `ua-…` alias), in libvirt's
    /// order (`qemuBuildCommandLine`), up to the host devices: `-incoming` follows them. Each
    /// device class has its own file under `Devices/`.
    mutating func addDevices() throws(CommandLineError) {
        try addIOMMU()
        addPCIHole64()
        try addImplicitControllers()
        try addUSBControllers()
        try addMemoryDevices()
        addHubs()
        try addSmartcards()
        try addDisks()
        try addFilesystems()
        try addInterfaces()
        try addSerialPorts()
        try addParallelPorts()
        try addChannels()
        try addVirtioConsoles()
        try addTPMs()
        try addInputs()
        try addAudioBackends()
        try addGraphics()
        try addVideos()
        try addSounds()
        try addWatchdogs()
        try addRedirectedDevices()
        try addHostDevices()
    }

    /// The devices libvirt adds after `-incoming`: the balloon, RNGs and vmcoreinfo.
    mutating func addDevicesAfterIncoming() throws(CommandLineError) {
        addMemoryBalloon()
        try addRNGs()
        if domain.features.vmcoreinfo == .on { addDevice([("driver", .string("vmcoreinfo"))]) }
    }

    /// The devices libvirt adds last, after the extra arguments and `-sandbox`: panic devices,
    /// shared memory, the vsock, crypto devices and the pstore.
    mutating func addDevicesAfterSandbox() throws(CommandLineError) {
        try addPanics()
        try addSharedMemory()
        try addVsock()
        addCryptos()
        addPstore()
    }
}

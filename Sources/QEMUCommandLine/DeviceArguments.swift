import CorralJSON
import DomainXML

extension Builder {
    /// The devices of a domain as `-blockdev`, `-netdev`, `-chardev`, `-object` and `-device`
    /// options, with libvirt's alias names as ids (or the user's `ua-…` alias), in libvirt's
    /// order. Each device class has its own file under `Devices/`.
    mutating func addDevices() throws(CommandLineError) {
        try addIOMMU()
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
        addMemoryBalloon()
        try addRNGs()
        if domain.features.vmcoreinfo == .on { addDevice([("driver", .string("vmcoreinfo"))]) }
        try addPanics()
        try addSharedMemory()
        try addVsock()
        addCryptos()
    }
}

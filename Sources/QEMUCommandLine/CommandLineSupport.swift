public import DomainXML

/// The values of the domain model's closed sets that the command line builder turns into QEMU
/// options; the rest are refused at start. Domain capabilities report these (a test checks each
/// list against the builder, value by value).
public enum CommandLineSupport {
    public static let diskDevices: [DomainDefinition.Disk.Device] = [.disk, .cdrom, .floppy]
    public static let diskBuses: [DomainDefinition.Disk.Bus] = [.ide, .fdc, .scsi, .virtio, .usb, .sata]
    public static let graphicsTypes: [DomainDefinition.Graphics.Kind] = [.sdl, .vnc, .spice, .eglHeadless]
    public static let videoModels: [DomainDefinition.Video.Model] = [.vga, .cirrus, .qxl, .virtio, .none, .bochs, .ramfb]
    public static let rngModels: [DomainDefinition.RandomNumberGenerator.Model] = [.virtio, .virtioTransitional, .virtioNonTransitional]
    public static let rngBackends: [DomainDefinition.RandomNumberGenerator.Backend] = [.random, .egd, .builtin]
    /// Host sides of serial ports and channels.
    public static let characterDeviceTypes: [DomainDefinition.CharacterDevice.Kind] = [.null, .vc, .pty, .dev, .file, .pipe, .tcp, .udp, .unix, .spicevmc, .spiceport, .qemuVDAgent]
    public static let filesystemDrivers: [DomainDefinition.Filesystem.DriverType] = [.path, .virtiofs]
    public static let loaderTypes: [DomainDefinition.Loader.Kind] = [.rom, .pflash]

    /// The QEMU device a video model needs (`none` needs none).
    public static func videoDevice(_ model: DomainDefinition.Video.Model) -> String? {
        switch model {
        case .vga: "VGA"
        case .cirrus: "cirrus-vga"
        case .qxl: "qxl-vga"
        case .virtio: "virtio-vga"
        case .bochs: "bochs-display"
        // A framebuffer in guest RAM that firmware finds through fw_cfg: no PCI device.
        case .ramfb: "ramfb"
        case .none, .vmvga, .xen, .vbox, .parallels, .gop: nil
        }
    }
}

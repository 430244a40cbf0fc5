/// The ranges every number of a domain definition must fall in, checked where the XML is read
/// so nothing later (argv, wire replies, ports) can overflow. They follow libvirt's where it
/// has them.
public enum DomainLimits {
    /// The most vCPUs a domain may have (libvirt's and QEMU's x86 limit).
    public static let maximumVCPUs = 16384
    /// Memory, in KiB: at most 2^53 - 1 (libvirt's `VIR_DOMAIN_MEMORY_PARAM_UNLIMITED`).
    public static let maximumMemoryKiB: UInt64 = (1 << 53) - 1
    /// VNC ports: libvirt's range.
    public static let vncPorts = 5900...65535
    /// Boot orders, controller indexes, port numbers and similar small counts.
    public static let smallCount = 0...65535
    /// Video memory sizes, in KiB.
    public static let videoMemoryKiB = 0...Int(UInt32.max)
    /// Disk target letters: `vda` … `vdzzz` (18,278 disks per bus).
    public static let maximumDiskTargetLetters = 3
    /// The most I/O threads a domain may have (a bound against absurd counts, far above use).
    public static let maximumIOThreads = 1024
}

import XMLTree

extension DomainDefinition {
    /// A controller's `<driver>` (libvirt's): virtio-scsi's queue count, commands per LUN, most
    /// sectors per request, ioeventfd and I/O thread, and the virtio options of virtio
    /// controllers.
    public struct ControllerDriver: Hashable, Sendable {
        public var queues: UInt32?
        public var commandsPerLUN: UInt32?
        public var maximumSectors: UInt32?
        public var ioeventfd: Bool?
        public var ioThread: UInt32?
        public var virtio = VirtioOptions()

        /// The attributes, in libvirt's order (`virDomainControllerDriverFormat`).
        public static let attributes = ["queues", "cmd_per_lun", "max_sectors", "ioeventfd", "iothread"] + VirtioOptions.attributes

        public init() {}

        /// Reads `<driver>` with libvirt's messages (unsigned integers, 0 meaning unset).
        init(_ element: XMLElement?) throws(DomainXMLError) {
            guard let element else { return }
            func number(_ attribute: String) throws(DomainXMLError) -> UInt32? {
                try AttributeValues.unsigned(attribute, of: element).flatMap { $0 == 0 ? nil : $0 }
            }
            queues = try number("queues")
            commandsPerLUN = try number("cmd_per_lun")
            maximumSectors = try number("max_sectors")
            ioeventfd = try VirtioOptions.onOff("ioeventfd", of: element)
            ioThread = try number("iothread")
            virtio = try VirtioOptions(element)
        }

        /// libvirt's refusal of the virtio-scsi settings on any other controller
        /// (`qemuValidateDomainDeviceDefControllerAttributes`).
        func checkVirtioSCSIOnly() throws(DomainXMLError) {
            let settings: [(String, Bool)] = [
                ("'queues' is only supported by virtio-scsi controller", queues != nil),
                ("'cmd_per_lun' is only supported by virtio-scsi controller", commandsPerLUN != nil),
                ("'max_sectors' is only supported by virtio-scsi controller", maximumSectors != nil),
                ("'ioeventfd' is only supported by virtio-scsi controller", ioeventfd != nil),
                ("'iothread' is only supported for virtio-scsi controller", ioThread != nil),
            ]
            if let refused = settings.first(where: \.1) { throw DomainXMLError(.unsupported, refused.0) }
        }
    }
}

public import XMLTree

extension DomainDefinition {
    /// `<address type='drive' controller bus target unit>`: where a disk sits on an IDE, SATA,
    /// SCSI or floppy controller.
    public struct DriveAddress: Hashable, Sendable {
        public var controller: Int
        public var bus: Int
        public var target: Int
        public var unit: Int

        public init(controller: Int, bus: Int = 0, target: Int = 0, unit: Int) {
            self.controller = controller
            self.bus = bus
            self.target = target
            self.unit = unit
        }

        /// The largest value of each part (libvirt parses them as unsigned ints; SCSI's unit
        /// reaches 16383).
        static let maximum = 65535

        /// Units on a SCSI controller in libvirt's mapping for QEMU (a narrow bus).
        static let unitsPerSCSIController = 7

        /// libvirt's address of the SCSI disk whose target has index `index` (`sda` = 0).
        public static func scsi(targetIndex index: Int) -> DriveAddress {
            DriveAddress(controller: index / unitsPerSCSIController, unit: index % unitsPerSCSIController)
        }

        /// The `<address type='drive'>` of `device`, if it has one.
        public init?(device: XMLElement) throws(DomainXMLError) {
            guard let address = device.element(named: "address"), address[attribute: "type"] == "drive" else { return nil }
            func part(_ name: String) throws(DomainXMLError) -> Int {
                guard let text = address[attribute: name] else { return 0 }
                guard let value = Int(text), (0...Self.maximum).contains(value) else {
                    throw DomainXMLError(.invalid, line: address.line, "Cannot parse <address> '\(name)' attribute")
                }
                return value
            }
            controller = try part("controller")
            bus = try part("bus")
            target = try part("target")
            unit = try part("unit")
        }
    }
}

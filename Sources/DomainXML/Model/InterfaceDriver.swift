import XMLTree

extension DomainDefinition.Interface {
    /// `<driver>` of a virtio NIC: the backend, its queues and the offloads the guest and host
    /// agree on (libvirt's `driver.virtio`).
    public struct Driver: Hashable, Sendable {
        /// `<driver name>`: QEMU's own virtio-net or the kernel's vhost-net.
        public enum Backend: String, ModelledValue {
            case qemu, vhost
        }

        /// `<driver txmode>`: how QEMU sends when the guest is slow to fill the queue.
        public enum TransmitMode: String, ModelledValue {
            case iothread, timer
        }

        public static let hostOffloads = ["csum", "gso", "tso4", "tso6", "ecn", "ufo", "mrg_rxbuf"]
        public static let guestOffloads = ["csum", "tso4", "tso6", "ecn", "ufo"]

        public var backend: Backend?
        public var transmitMode: TransmitMode?
        public var ioeventfd: Bool?
        public var eventIndex: Bool?
        /// `<driver queues>`: receive/transmit queue pairs (1 is none).
        public var queues: Int?
        public var rxQueueSize: Int?
        public var txQueueSize: Int?
        /// `<host>` and `<guest>` offloads by libvirt's attribute name: on or off (absent: QEMU's
        /// default).
        public var host: [String: Bool] = [:]
        public var guest: [String: Bool] = [:]
        /// `<driver rss>`: receive-side scaling in QEMU (eBPF steering when the host has it).
        public var receiveSideScaling: Bool?
        /// `<driver rss_hash_report>`: the hash of each packet reported to the guest.
        public var hashReport: Bool?
        /// `<driver iommu ats packed page_per_vq>`.
        public var virtio = DomainDefinition.VirtioOptions()

        static let schema = ElementSchema(
            "driver", attributes: ["name", "txmode", "ioeventfd", "event_idx", "queues", "rx_queue_size", "tx_queue_size", "rss", "rss_hash_report"]
                + DomainDefinition.VirtioOptions.attributes,
            children: [ElementSchema("host", attributes: hostOffloads), ElementSchema("guest", attributes: guestOffloads)])

        /// Reads `<driver>` as libvirt's `virDomainNetDefParseXMLDriver` does for a virtio NIC,
        /// with the QEMU driver's define-time checks of the queue sizes.
        init(_ element: XMLElement) throws(DomainXMLError) {
            backend = try Backend.optionalAttribute("name", of: element)
            transmitMode = try TransmitMode.optionalAttribute("txmode", of: element)
            ioeventfd = try Self.onOff("ioeventfd", of: element)
            eventIndex = try Self.onOff("event_idx", of: element)
            queues = try Self.count("queues", of: element).flatMap { $0 > 1 ? $0 : nil }
            rxQueueSize = try Self.count("rx_queue_size", of: element)
            txQueueSize = try Self.count("tx_queue_size", of: element)
            receiveSideScaling = try Self.onOff("rss", of: element)
            hashReport = try Self.onOff("rss_hash_report", of: element)
            virtio = try DomainDefinition.VirtioOptions(element)
            for (name, size) in [("rx_queue_size", rxQueueSize), ("tx_queue_size", txQueueSize)] {
                if let size, size & (size - 1) != 0 {
                    throw DomainXMLError(.unsupported, line: element.line, "\(name) has to be a power of two")
                }
            }
            for (child, names, keyPath) in [("host", Self.hostOffloads, \Driver.host), ("guest", Self.guestOffloads, \Driver.guest)] {
                guard let offloads = element.element(named: child) else { continue }
                for name in names {
                    if let on = try Self.onOff(name, of: offloads) { self[keyPath: keyPath][name] = on }
                }
            }
        }

        static func onOff(_ attribute: String, of element: XMLElement) throws(DomainXMLError) -> Bool? {
            try AttributeValues.onOff(attribute, of: element)
        }

        /// An unsigned attribute; zero is unset, as libvirt reads it.
        static func count(_ attribute: String, of element: XMLElement) throws(DomainXMLError) -> Int? {
            try AttributeValues.unsigned(attribute, of: element).flatMap { $0 == 0 ? nil : Int($0) }
        }
    }
}

import XMLTree

/// What every device element may carry.
enum DeviceCommon {
    /// `<alias name>`.
    static func alias(_ device: XMLElement) -> String? { device.element(named: "alias")?[attribute: "name"] }

    /// `<boot order>`.
    static func bootOrder(_ device: XMLElement) -> Int? { device.element(named: "boot")?[attribute: "order"].flatMap { Int($0) } }

    /// An unsigned number as libvirt reads addresses: decimal, or hexadecimal after `0x`.
    static func unsigned(_ text: String) -> UInt64? {
        text.hasPrefix("0x") || text.hasPrefix("0X") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
    }

    /// `<address type='usb' bus port>`: the USB bus (the controller's index) and the port path
    /// (`1`, or `1.2` behind a hub), when the device has one that is well formed.
    static func usbAddress(_ device: XMLElement) -> DomainDefinition.USBAddress? {
        guard let address = device.element(named: "address"), address[attribute: "type"] == "usb",
            let bus = address[attribute: "bus"].flatMap({ Int($0) }), (0...DomainLimits.smallCount.upperBound).contains(bus),
            let port = address[attribute: "port"], !port.isEmpty, port.count <= 16,
            port.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ Int($0).map { (1...255).contains($0) } ?? false })
        else { return nil }
        return DomainDefinition.USBAddress(bus: bus, port: port)
    }
}

extension DomainDefinition {
    /// A USB device's place: the controller's bus and the port path.
    public struct USBAddress: Hashable, Sendable {
        public var bus: Int
        public var port: String
    }
}

import XMLTree

/// What every device element may carry.
enum DeviceCommon {
    /// `<alias name>`.
    static func alias(_ device: XMLElement) -> String? { device.element(named: "alias")?[attribute: "name"] }

    /// `<acpi index>`: the index the guest's firmware gives a PCI device (for predictable
    /// names such as `eno1`), as libvirt reads it (a non-zero unsigned number).
    static func acpiIndex(_ device: XMLElement) throws(DomainXMLError) -> UInt32? {
        guard let acpi = device.element(named: "acpi"), let text = acpi[attribute: "index"] else { return nil }
        guard let value = AttributeValues.libvirtUInt32(text), value > 0 else {
            throw DomainXMLError(.invalid, line: acpi.line, "Invalid value for attribute 'index' in element 'acpi': '\(text)'. Expected non-zero value")
        }
        return value
    }

    /// `<boot order>`.
    static func bootOrder(_ device: XMLElement) -> Int? { device.element(named: "boot")?[attribute: "order"].flatMap { Int($0) } }

    /// An unsigned number as libvirt reads addresses: decimal, or hexadecimal after `0x`.
    static func unsigned(_ text: String) -> UInt64? {
        if let value = plainUnsigned(text.utf8) { return value }
        return text.hasPrefix("0x") || text.hasPrefix("0X") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
    }

    /// The common case of ``unsigned(_:)`` read from the bytes: only digits (after `0x`, hex
    /// ones), too few to overflow; `nil` for anything else, which the general reading decides.
    /// (Every device's address is read this way on each define.)
    private static func plainUnsigned(_ bytes: String.UTF8View) -> UInt64? {
        var iterator = bytes.makeIterator()
        var value: UInt64 = 0, count = 0
        guard let first = iterator.next() else { return nil }
        if first == UInt8(ascii: "0"), let second = iterator.next() {
            guard second == UInt8(ascii: "x") || second == UInt8(ascii: "X") else { return nil }
            while let byte = iterator.next() {
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                count += 1
                guard count <= 15 else { return nil }
                value = value << 4 | UInt64(digit)
            }
            return count > 0 ? value : nil
        }
        var byte: UInt8? = first
        while let current = byte {
            guard current >= UInt8(ascii: "0") && current <= UInt8(ascii: "9") else { return nil }
            count += 1
            guard count <= 18 else { return nil }
            value = value * 10 + UInt64(current - UInt8(ascii: "0"))
            byte = iterator.next()
        }
        return value
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

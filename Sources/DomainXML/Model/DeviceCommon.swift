import XMLTree

/// What every device element may carry.
enum DeviceCommon {
    /// `<alias name>`.
    static func alias(_ device: XMLElement) -> String? { device.element(named: "alias")?[attribute: "name"] }

    /// `<boot order>`.
    static func bootOrder(_ device: XMLElement) -> Int? { device.element(named: "boot")?[attribute: "order"].flatMap { Int($0) } }
}

import DomainXML

/// Hands out `bootindex` values: a device's own `<boot order>` wins; otherwise the first device
/// of each kind named by `<os><boot dev>` gets the position of that kind in the list.
struct BootIndexAssigner {
    /// The device kinds of `<os><boot dev=…>`, in order (`hd`, `cdrom`, `network`, `fd`).
    let order: [DomainDefinition.OperatingSystem.BootDevice]
    private var next = 1
    private var assigned: Set<DomainDefinition.OperatingSystem.BootDevice> = []

    init(order: [DomainDefinition.OperatingSystem.BootDevice]) {
        self.order = order
    }

    /// The boot index of the next device of `kind`, or `nil` when it is not a boot device.
    mutating func index(for kind: DomainDefinition.OperatingSystem.BootDevice, explicit: Int?) -> Int? {
        if let explicit { return explicit }
        guard let position = order.firstIndex(of: kind), !assigned.contains(kind) else { return nil }
        assigned.insert(kind)
        defer { next += 1 }
        return order.count > 1 ? position + 1 : next
    }
}

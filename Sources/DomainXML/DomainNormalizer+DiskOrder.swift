import XMLTree

extension DomainNormalizer {
    /// The disks of `devices` in the order libvirt keeps them (`virDomainDiskInsert`, as each is
    /// read): a disk goes before the first later-read disk of its bus (as written, absent being
    /// a bus of its own) whose target index is higher, else after the last disk of its bus, else
    /// at the end. Other children keep their places; the disks take the disks' places.
    static func orderDisksAsInserted(_ devices: inout XMLElement) {
        var positions: [Int] = [], keys: [(bus: String?, index: Int)] = []
        for (position, node) in devices.children.enumerated() {
            guard case .element(let disk) = node, disk.name == "disk", disk.namespace == nil else { continue }
            positions.append(position)
            let target = disk.element(named: "target")
            keys.append((target?[attribute: "bus"], target?[attribute: "dev"].flatMap(DiskTarget.index(of:)) ?? -1))
        }
        guard positions.count > 1 else { return }
        let order = insertionOrder(keys)
        guard order != Array(order.indices) else { return }
        let disks = positions.map { devices.children[$0] }
        for (slot, source) in zip(positions, order) { devices.children[slot] = disks[source] }
    }

    /// libvirt's insertion of each disk in turn (by bus and target index) into the list read so
    /// far; the result lists the disks' reading positions in their final order.
    static func insertionOrder(_ keys: [(bus: String?, index: Int)]) -> [Int] {
        var order: [Int] = []
        for (new, key) in keys.enumerated() {
            var insertAt: Int?
            for position in order.indices.reversed() {
                let other = keys[order[position]]
                guard other.bus == key.bus else { continue }
                if other.index > key.index {
                    insertAt = position
                } else if insertAt == nil {
                    insertAt = position + 1
                }
            }
            order.insert(new, at: insertAt ?? order.count)
        }
        return order
    }
}

import XMLTree

extension DomainNormalizer {
    /// The USB 2 controller models that form a companion group (an EHCI and its UHCIs).
    static let usb2Models: Set<String> = ["ehci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3"]

    /// A controller without an `index` gets one as libvirt gives it: the lowest index no other
    /// controller of its type has, except that a USB 2 controller right after another USB 2
    /// controller joins that controller's index, when no controller of its own model is there
    /// yet (an EHCI with its UHCI companions). The attribute goes right after `type`.
    static func assignControllerIndexes(_ devices: inout XMLElement) {
        var controllers = devices.elements(named: "controller").filter { $0.namespace == nil }
        guard controllers.contains(where: { $0[attribute: "index"] == nil }) else { return }
        func index(_ controller: XMLElement) -> Int? { controller[attribute: "index"].flatMap { Int($0) } }
        for position in controllers.indices where controllers[position][attribute: "index"] == nil {
            let controller = controllers[position]
            let type = controller[attribute: "type"] ?? ""
            var assigned: Int?
            if type == "usb", let model = controller[attribute: "model"], usb2Models.contains(model) {
                let previous = controllers[..<position].last { $0[attribute: "type"] == "usb" }
                if let previous, let previousModel = previous[attribute: "model"], usb2Models.contains(previousModel), let previousIndex = index(previous),
                    !controllers.contains(where: { $0[attribute: "type"] == "usb" && index($0) == previousIndex && $0[attribute: "model"] == model }) {
                    assigned = previousIndex
                }
            }
            if assigned == nil {
                var unused = 0
                while controllers.contains(where: { $0[attribute: "type"] == type && index($0) == unused }) { unused += 1 }
                assigned = unused
            }
            var numbered = controller
            let typePosition = numbered.attributes.firstIndex { $0.name == "type" }.map { $0 + 1 } ?? 0
            numbered.attributes.insert(XMLAttribute(name: "index", value: String(assigned ?? 0)), at: typePosition)
            controllers[position] = numbered
        }
        var next = controllers.makeIterator()
        devices.updateElements { element in
            guard element.name == "controller", element.namespace == nil, let numbered = next.next() else { return }
            element = numbered
        }
    }
}

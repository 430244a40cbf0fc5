import XMLTree

extension DomainNormalizer {
    /// The USB 2 controller models that form a companion group (an EHCI and its UHCIs).
    static let usb2Models: Set<String> = ["ehci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3"]

    /// The most controllers of one type put in libvirt's order: each one placed costs a look
    /// at those before it, so a hostile document with more keeps its own order (no definition
    /// that runs has nearly as many).
    static let maximumControllersOrdered = 1024

    /// The controllers in the order libvirt's parser keeps them (`virDomainControllerInsertPreAlloced`):
    /// each one read joins the others of its type, before the first with a higher index (a USB
    /// controller that is no companion also before a companion of its own index), or after the
    /// last of its type; one without an index goes after the last of its type; the first of a
    /// type goes last. So the controllers of a type end up together, where the first of them
    /// was, and a `virsh edit` of libvirt's XML reads back as libvirt reads it.
    static func orderControllersAsParsed(_ devices: inout XMLElement) {
        let controllers = devices.elements(named: "controller").filter { $0.namespace == nil }
        guard controllers.count > 1 else { return }
        struct Entry {
            var index: Int
            var isCompanion: Bool
            var element: XMLElement
        }
        var groups: [String: [Entry]] = [:]
        var typeOrder: [String] = []
        for controller in controllers {
            let type = controller[attribute: "type"] ?? ""
            let entry = Entry(
                index: controller[attribute: "index"].flatMap { Int($0) } ?? -1, isCompanion: controller.element(named: "master") != nil, element: controller)
            guard var group = groups[type] else {
                groups[type] = [entry]
                typeOrder.append(type)
                continue
            }
            groups[type] = nil
            if entry.index < 0 || group.count >= maximumControllersOrdered {
                group.append(entry)
            } else {
                var insertAt: Int?
                for position in group.indices.reversed() {
                    let current = group[position]
                    if current.index > entry.index || (!entry.isCompanion && current.isCompanion && current.index == entry.index) {
                        insertAt = position
                    } else if insertAt == nil {
                        insertAt = position + 1
                    }
                }
                group.insert(entry, at: insertAt ?? group.count)
            }
            groups[type] = group
        }
        var next = typeOrder.lazy.flatMap { groups[$0] ?? [] }.makeIterator()
        devices.updateElements { element in
            guard element.name == "controller", element.namespace == nil, let placed = next.next() else { return }
            element = placed.element
        }
    }

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

    /// The controllers libvirt adds to an x86 definition that lacks them, in its order: a USB
    /// controller (qemu-xhci on q35, piix3-uhci otherwise), q35's built-in SATA controller, the
    /// PCI root, an IDE controller for IDE disks (i440fx), a floppy controller for floppies, SCSI controllers for SCSI disks, and a virtio-serial controller for
    /// virtio channels and consoles.
    /// The most SCSI controllers added for disks' addresses (a hostile address adds no more).
    static let maximumImplicitSCSIControllers = 32

    static func addImplicitControllers(_ devices: inout XMLElement, machine: String) {
        let chipset = PCIAddressAssignment.Chipset(machine: machine)
        let q35 = chipset == .q35, x86Chipset = chipset != nil
        func has(_ type: String, index: String = "0") -> Bool {
            devices.elements(named: "controller").contains { $0[attribute: "type"] == type && ($0[attribute: "index"] ?? "0") == index }
        }
        func append(_ attributes: [(String, String)]) {
            devices.children.append(.element(element("controller", attributes)))
        }
        // SCSI host devices' controllers first: libvirt adds them as it reads the devices
        // (virDomainDefMaybeAddHostdevSCSIcontroller), before its other implicit controllers,
        // with the model of the controller the last new highest address named, if it has one.
        var highestHostDeviceController = -1, hostDeviceModel: String?
        for hostdev in devices.elements(named: "hostdev") where hostdev[attribute: "type"] == "scsi" {
            guard let address = hostdev.element(named: "address"), address[attribute: "type"] == "drive",
                let controller = Int(address[attribute: "controller"] ?? "0"), controller > highestHostDeviceController else { continue }
            highestHostDeviceController = controller
            let existing = devices.elements(named: "controller").first { $0[attribute: "type"] == "scsi" && ($0[attribute: "index"] ?? "0") == String(controller) }
            if let model = existing?[attribute: "model"] { hostDeviceModel = model }
        }
        if highestHostDeviceController >= 0, highestHostDeviceController <= maximumImplicitSCSIControllers {
            for index in 0...highestHostDeviceController where !has("scsi", index: String(index)) {
                append([("type", "scsi"), ("index", String(index))] + (hostDeviceModel.map { [("model", $0)] } ?? []))
            }
        }
        if x86Chipset && !devices.elements(named: "controller").contains(where: { $0[attribute: "type"] == "usb" }) {
            append([("type", "usb"), ("index", "0"), ("model", q35 ? "qemu-xhci" : "piix3-uhci")])
        }
        if q35 && !has("sata") { append([("type", "sata"), ("index", "0")]) }
        if !has("pci") { append([("type", "pci"), ("index", "0"), ("model", q35 || machine.contains("q35") ? "pcie-root" : "pci-root")]) }
        let ideDisks = devices.elements(named: "disk").contains { $0.element(named: "target")?[attribute: "bus"] == "ide" }
        if !q35 && x86Chipset && ideDisks && !has("ide") { append([("type", "ide"), ("index", "0")]) }
        let floppies = devices.elements(named: "disk").contains { $0.element(named: "target")?[attribute: "bus"] == "fdc" }
        if x86Chipset && floppies && !has("fdc") { append([("type", "fdc"), ("index", "0")]) }
        // SCSI: a controller for every index up to the highest a SCSI disk's address names,
        // libvirt's default model (lsilogic) on those it adds and those that name none.
        // (And SCSI host devices' addresses, as libvirt's virDomainDefMaybeAddHostdevSCSIcontroller.)
        let scsiControllers = (devices.elements(named: "disk").filter { $0.element(named: "target")?[attribute: "bus"] == "scsi" }
            + devices.elements(named: "hostdev").filter { $0[attribute: "type"] == "scsi" })
            .compactMap { $0.element(named: "address").flatMap { $0[attribute: "type"] == "drive" ? Int($0[attribute: "controller"] ?? "0") : nil } }
        if let highest = scsiControllers.max(), highest <= maximumImplicitSCSIControllers {
            for index in 0...highest where !has("scsi", index: String(index)) { append([("type", "scsi"), ("index", String(index))]) }
        }
        devices.updateElements { controller in
            guard controller.name == "controller", controller.namespace == nil, controller[attribute: "type"] == "scsi", controller[attribute: "model"] == nil else { return }
            controller[attribute: "model"] = "lsilogic"
        }
        if devices.elements(named: "smartcard").contains(where: { $0.namespace == nil }) && !has("ccid") { append([("type", "ccid"), ("index", "0")]) }
        let virtioSerial = (devices.elements(named: "channel") + devices.elements(named: "console")).contains { $0.element(named: "target")?[attribute: "type"] == "virtio" }
        if virtioSerial && !has("virtio-serial") { append([("type", "virtio-serial"), ("index", "0")]) }
    }
}

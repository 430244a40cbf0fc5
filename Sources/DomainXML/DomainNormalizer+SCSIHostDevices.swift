import XMLTree

/// SCSI host devices (`<hostdev type='scsi'>`) as libvirt completes them: their drive
/// addresses on the guest's SCSI controllers, and the conflicts it refuses with SCSI disks.
extension DomainNormalizer {
    /// libvirt's narrow SCSI bus for QEMU: units 0–6 of target 0 on bus 0 of each controller.
    static let scsiUnitsPerController = 7

    /// A drive address as a comparable key.
    struct DriveKey: Hashable {
        var controller: Int, bus: Int, target: Int, unit: Int

        init(controller: Int, bus: Int = 0, target: Int = 0, unit: Int) {
            (self.controller, self.bus, self.target, self.unit) = (controller, bus, target, unit)
        }

        init?(_ device: XMLElement) {
            guard let address = try? DomainDefinition.DriveAddress(device: device) else { return nil }
            self.init(controller: address.controller, bus: address.bus, target: address.target, unit: address.unit)
        }
    }

    static func isSCSIHostDevice(_ element: XMLElement) -> Bool {
        element.name == "hostdev" && element.namespace == nil && element[attribute: "type"] == "scsi"
    }

    /// Before the disks get their addresses: a SCSI disk whose address its target name gives
    /// may not land on a SCSI host device's (libvirt's check in `virDomainDiskDefAssignAddress`,
    /// with its words).
    static func checkSCSIDiskTargets(against devices: XMLElement) throws(DomainXMLError) {
        let hostDevices = Set(devices.elements.filter(isSCSIHostDevice).compactMap(DriveKey.init))
        guard !hostDevices.isEmpty else { return }
        for disk in devices.elements where disk.name == "disk" && disk.namespace == nil && disk.element(named: "address") == nil {
            guard let target = disk.element(named: "target"), let dev = target[attribute: "dev"] else { continue }
            guard (target[attribute: "bus"] ?? (dev.hasPrefix("sd") ? "scsi" : nil)) == "scsi", let index = DiskTarget.index(of: dev) else { continue }
            let address = DomainDefinition.DriveAddress.scsi(targetIndex: index)
            if hostDevices.contains(DriveKey(controller: address.controller, unit: address.unit)) {
                throw DomainXMLError(.unsupported, "using disk target name '\(dev)' conflicts with SCSI host device address controller='\(address.controller)' bus='0' target='0' unit='\(address.unit)")
            }
        }
    }

    /// A SCSI host device's own parts as libvirt writes them: `managed='no'` unless said, an
    /// iSCSI name without a LUN given LUN 0, its children in libvirt's order.
    static func normalizeSCSIHostDevice(_ device: inout XMLElement) {
        if device[attribute: "managed"] == nil { device[attribute: "managed"] = "no" }
        orderAttributes(&device, ["mode", "type", "managed", "sgio", "rawio"])
        device.updateElements { source in
            guard source.name == "source", source.namespace == nil else { return }
            if source[attribute: "protocol"] == "iscsi", let name = source[attribute: "name"], !name.contains("/") { source[attribute: "name"] = name + "/0" }
            orderAttributes(&source, ["protocol", "name"])
            source.updateElements { if $0.name == "address" && $0.namespace == nil { orderAttributes(&$0, ["bus", "target", "unit"]) } }
            source.children = ordered(source.children, by: ["adapter", "address", "host", "auth", "initiator"])
        }
        device.children = ordered(device.children, by: ["source", "readonly", "shareable", "boot", "alias", "acpi", "address"])
    }

    /// libvirt's addresses for SCSI host devices without one (`virDomainHostdevAssignAddress`):
    /// the first unit of controller 0 that no SCSI disk or host device holds and the
    /// controller's model allows, else of controller 1, and so on; and its refusal of a given
    /// address a SCSI disk holds.
    static func assignSCSIHostDeviceAddresses(_ devices: inout XMLElement) throws(DomainXMLError) {
        guard devices.elements.contains(where: isSCSIHostDevice) else { return }
        var disks = Set<DriveKey>()
        for disk in devices.elements where disk.name == "disk" && disk.namespace == nil && disk.element(named: "target")?[attribute: "bus"] == "scsi" {
            if let key = DriveKey(disk) { disks.insert(key) }
        }
        var used = disks.union(devices.elements.filter(isSCSIHostDevice).compactMap(DriveKey.init))
        var models: [Int: String] = [:]
        for controller in devices.elements where controller.name == "controller" && controller.namespace == nil && controller[attribute: "type"] == "scsi" {
            if let index = Int(controller[attribute: "index"] ?? "0"), let model = controller[attribute: "model"] { models[index] = model }
        }
        func allowed(_ key: DriveKey) -> Bool {
            // The models' limits libvirt takes from QEMU (virDomainSCSIDriveAddressIsUsed).
            switch models[key.controller] {
            case "ibmvscsi"?: key.unit <= 31 && key.unit != 7
            case "lsisas1068"?: key.unit <= 1
            case "lsisas1078"?: key.unit <= 255
            case "lsilogic"?, "vmpvscsi"?, "buslogic"?: key.unit != 7
            case "ncr53c90"?, "dc390"?, "am53c974"?: key.unit <= 6
            default: true
            }
        }
        var failure: DomainXMLError?
        devices.updateElements { device in
            guard failure == nil, isSCSIHostDevice(device) else { return }
            if let given = DriveKey(device) {
                if disks.contains(given) {
                    failure = DomainXMLError(.invalid, line: device.line,
                        "SCSI host address controller='\(given.controller)' bus='\(given.bus)' target='\(given.target)' unit='\(given.unit)' in use by a SCSI disk")
                }
                return
            }
            var controller = 0
            while controller <= DomainDefinition.DriveAddress.maximum {
                if let unit = (0..<scsiUnitsPerController).first(where: { unit in
                    let key = DriveKey(controller: controller, unit: unit)
                    return !used.contains(key) && allowed(key)
                }) {
                    used.insert(DriveKey(controller: controller, unit: unit))
                    device.children.removeAll { if case .element(let e) = $0, e.name == "address", e.namespace == nil { true } else { false } }
                    device.children.append(.element(element("address", [
                        ("type", "drive"), ("controller", String(controller)), ("bus", "0"), ("target", "0"), ("unit", String(unit)),
                    ])))
                    return
                }
                controller += 1
            }
        }
        if let failure { throw failure }
    }
}

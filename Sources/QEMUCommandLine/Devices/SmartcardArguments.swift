import CorralJSON
import DomainXML

extension Builder {
    /// Each CCID controller as a `usb-ccid` device on its USB port, and the smartcard in its
    /// slot 0 (libvirt's `qemuBuildSmartcardCommandLine`): QEMU's emulated card on the host's
    /// NSS database or on three of its certificates, or a passthrough card behind a chardev
    /// (`charsmartcard0`; SPICE's `smartcard` channel for `spicevmc`).
    mutating func addSmartcards() throws(CommandLineError) {
        let devices = domain.devices
        for (index, controller) in devices.controllers.enumerated() where controller.type == .ccid {
            guard devices.controllers.contains(where: { $0.type == .usb && $0.model != "none" }) else {
                throw CommandLineError(.unsupported, "a CCID controller needs a USB controller")
            }
            addDevice([("driver", .string("usb-ccid")), ("id", .string(DeviceAliases.controller(controller, machine: domain.os.machine)))] + usbPlacement(devices.controllers[index].usbAddress))
        }
        guard let card = devices.smartcards.first else { return }
        guard let controller = devices.controllers.first(where: { $0.type == .ccid && $0.index == card.controller }) else {
            throw CommandLineError(.unsupported, "the smartcard needs CCID controller \(card.controller)")
        }
        let alias = card.alias ?? "smartcard0"
        var members: [(String, JSONValue)]
        switch card.mode {
        case .host:
            members = [("driver", .string("ccid-card-emulated")), ("backend", .string("nss-emulated"))]
        case .hostCertificates:
            members = [("driver", .string("ccid-card-emulated")), ("backend", .string("certificates"))]
            for (number, certificate) in card.certificates.enumerated() { members.append(("cert\(number + 1)", .string(certificate))) }
            members.append(("db", .string(card.database ?? DomainDefinition.Smartcard.defaultDatabase)))
        case .passthrough:
            guard let device = card.characterDevice else { throw CommandLineError(.unsupported, "the passthrough smartcard has no character device") }
            if card.passthrough == .spicevmc && !devices.graphics.contains(where: { $0.type == .spice }) {
                throw CommandLineError(.unsupported, "a spicevmc smartcard needs SPICE graphics")
            }
            let chardev = "char" + alias
            try addChardevOption(device, id: chardev, name: alias, spiceChannel: "smartcard")
            members = [("driver", .string("ccid-card-passthru")), ("chardev", .string(chardev))]
        }
        addDevice(members + [("id", .string(alias)), ("bus", .string((DeviceAliases.controller(controller, machine: domain.os.machine)) + ".0"))])
    }
}

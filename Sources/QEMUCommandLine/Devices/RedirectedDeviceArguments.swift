import CorralJSON
import DomainXML

extension Builder {
    /// USB redirection ports: a `usb-redir` device on the first USB bus with its chardev
    /// (`charredirN`), SPICE's `usbredir` channel or a TCP connection to a usbredir server.
    mutating func addRedirectedDevices() throws(CommandLineError) {
        let redirected = domain.devices.redirectedDevices
        guard !redirected.isEmpty else { return }
        guard domain.devices.controllers.contains(where: { $0.type == .usb && $0.model != "none" }) else {
            throw CommandLineError(.unsupported, "redirected devices need a USB controller")
        }
        if redirected.contains(where: { $0.type == .spicevmc }) && !domain.devices.graphics.contains(where: { $0.type == .spice }) {
            throw CommandLineError(.unsupported, "a spicevmc redirected device needs SPICE graphics")
        }
        for (index, device) in redirected.enumerated() {
            let chardev = "charredir\(index)"
            try addChardevOption(device.characterDevice, id: chardev, name: "redir\(index)", spiceChannel: "usbredir")
            // `<redirfilter>`'s rules, for every port (libvirt's `filter`).
            let filter: [(String, JSONValue)] = domain.devices.redirectionRules.isEmpty
                ? [] : [("filter", .string(domain.devices.redirectionRules.map(\.qemuFilter).joined(separator: "|")))]
            addDevice(
                [("driver", .string("usb-redir")), ("chardev", .string(chardev)), ("id", .string(DeviceAliases.positional("redir", given: device.alias, position: index)))] + filter
                    + usbPlacement(device.usbAddress))
        }
    }
}

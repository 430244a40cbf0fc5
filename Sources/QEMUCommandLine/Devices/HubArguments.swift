import CorralJSON
import DomainXML

extension Builder {
    /// USB hubs (`hubN`), on their USB ports, before the devices that may plug into them.
    mutating func addHubs() {
        for (index, hub) in domain.devices.hubs.enumerated() {
            addDevice([("driver", .string("usb-hub")), ("id", .string(DeviceAliases.positional("hub", given: hub.alias, position: index)))] + usbPlacement(hub.usbAddress))
        }
    }
}

import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Sound cards, each playing through its `<audio>` backend (``addAudioBackends()``); an
    /// HDA card gets its codecs at `cad` 0, 1, … (one duplex codec when none are given).
    mutating func addSounds() throws(CommandLineError) {
        for (index, sound) in domain.devices.sounds.enumerated() {
            let id = DeviceAliases.positional("sound", given: sound.alias, position: index)
            let audiodev: [(String, JSONValue)] = audioDeviceID(sound.audioID).map { [("audiodev", .string($0))] } ?? []
            switch sound.model {
            case .ich6, .ich9:
                addDevice([("driver", .string(sound.model == .ich9 ? "ich9-intel-hda" : "intel-hda")), ("id", .string(id))] + pciPlacement(sound.pciAddress))
                for (cad, codec) in (sound.codecs.isEmpty ? [.duplex] : sound.codecs).enumerated() {
                    addDevice([
                        ("driver", .string("hda-\(codec.rawValue)")), ("id", .string("\(id)-codec\(cad)")), ("bus", .string("\(id).0")), ("cad", .integer(Int64(cad))),
                    ] + audiodev)
                }
            case .ac97, .es1370, .sb16:
                let driver = sound.model == .ac97 ? "AC97" : sound.model == .es1370 ? "ES1370" : "sb16"
                addDevice([("driver", .string(driver)), ("id", .string(id))] + audiodev + pciPlacement(sound.pciAddress))
            case .usb:
                // USB Audio Class 1 on the USB bus, at its port.
                addDevice([("driver", .string("usb-audio")), ("id", .string(id))] + audiodev + usbPlacement(sound.usbAddress))
            case .pcspk, .ich7:
                throw CommandLineError(.unsupported, "sound model '\(sound.model.rawValue)' is not supported")
            }
        }
    }
}

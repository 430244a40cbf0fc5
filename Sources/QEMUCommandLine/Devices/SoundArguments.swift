import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Sound cards, all on one audio backend when the emulator has audiodev: SPICE's, which
    /// carries the sound to the SPICE client, when the guest has SPICE graphics (libvirt's
    /// default `<audio type='spice'>`), else a silent one (`none`).
    mutating func addSounds() throws(CommandLineError) {
        let sounds = domain.devices.sounds
        if !sounds.isEmpty, capabilities.contains(.audiodev) {
            let driver = domain.devices.graphics.contains { $0.type == .spice } ? "spice" : "none"
            add("-audiodev", json: .object([("id", .string("audio1")), ("driver", .string(driver))]))
        }
        for (index, sound) in sounds.enumerated() {
            let id = sound.alias ?? "sound\(index)"
            switch sound.model {
            case .ich6, .ich9:
                addDevice([("driver", .string(sound.model == .ich9 ? "ich9-intel-hda" : "intel-hda")), ("id", .string(id))] + pciPlacement(sound.pciAddress))
                addDevice([
                    ("driver", .string("hda-duplex")), ("id", .string("\(id)-codec0")), ("bus", .string("\(id).0")), ("cad", .integer(0)),
                    ("audiodev", .string("audio1")),
                ])
            case .ac97, .es1370, .sb16:
                let driver = sound.model == .ac97 ? "AC97" : sound.model == .es1370 ? "ES1370" : "sb16"
                addDevice([("driver", .string(driver)), ("id", .string(id)), ("audiodev", .string("audio1"))] + pciPlacement(sound.pciAddress))
            case .pcspk, .ich7, .usb:
                throw CommandLineError(.unsupported, "sound model '\(sound.model.rawValue)' is not supported")
            }
        }
    }
}

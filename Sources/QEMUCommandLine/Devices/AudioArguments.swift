import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// The audio backends: one `-audiodev` per `<audio>`, id `audioN`, as libvirt gives them. A
    /// definition stored before Corral wrote `<audio>` at define gets libvirt's default for it
    /// (SPICE's backend for a SPICE guest, else a silent one) when it has sound cards.
    var audioBackends: [DomainDefinition.Audio] {
        let given = domain.devices.audios
        guard given.isEmpty, !domain.devices.sounds.isEmpty else { return given }
        let backend: DomainDefinition.Audio.Backend = domain.devices.graphics.contains { $0.type == .spice } ? .spice : .none
        return [DomainDefinition.Audio(backend: backend)]
    }

    /// QEMU's id of the backend a device plays through: the one it names, else the first.
    func audioDeviceID(_ id: Int?) -> String? {
        guard capabilities.contains(.audiodev), let audio = id.flatMap({ id in audioBackends.first { $0.id == id } }) ?? audioBackends.first else { return nil }
        return "audio\(audio.id)"
    }

    mutating func addAudioBackends() throws(CommandLineError) {
        guard capabilities.contains(.audiodev) else { return }
        for audio in audioBackends {
            var properties: [(String, JSONValue)] = [("id", .string("audio\(audio.id)"))]
            switch audio.backend {
            case .none, .spice: properties.append(("driver", .string(audio.backend.rawValue)))
            case .file:
                properties.append(("driver", .string("wav")))
            default:
                throw CommandLineError(.unsupported, "audio backend '\(audio.backend.rawValue)' is not supported (only none, spice and file)")
            }
            if let period = audio.timerPeriod { properties.append(("timer-period", .integer(Int64(period)))) }
            if audio.backend == .file, let path = audio.path { properties.append(("path", .string(path))) }
            add("-audiodev", json: .object(properties))
        }
    }
}

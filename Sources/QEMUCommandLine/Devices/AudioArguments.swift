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

    /// Each backend as libvirt passes it (`qemuBuildAudioCommandLineArg`): QEMU's driver, the
    /// timer period, the backend's own options, and `in`/`out` when a direction has settings. (An
    /// SDL backend's driver reaches QEMU as `SDL_AUDIODRIVER`: ``QEMUCommandLineBuilder``'s
    /// environment.)
    mutating func addAudioBackends() throws(CommandLineError) {
        guard capabilities.contains(.audiodev) else { return }
        for audio in audioBackends {
            var properties: [(String, JSONValue)] = [("id", .string("audio\(audio.id)")), ("driver", .string(audio.backend.qemuDriver))]
            if let period = audio.timerPeriod { properties.append(("timer-period", .integer(Int64(period)))) }
            switch audio.backend {
            case .oss:
                if let on = audio.tryMMap { properties.append(("try-mmap", .bool(on))) }
                if let on = audio.exclusive { properties.append(("exclusive", .bool(on))) }
                if let policy = audio.dspPolicy { properties.append(("dsp-policy", .integer(Int64(policy)))) }
            case .pulseaudio:
                if let server = audio.serverName { properties.append(("server", .string(server))) }
            case .file:
                if let path = audio.path { properties.append(("path", .string(path))) }
            default: break
            }
            for (name, stream) in [("in", audio.input), ("out", audio.output)] {
                guard let stream else { continue }
                let members = Self.audioStreamMembers(stream, backend: audio.backend)
                if !members.isEmpty { properties.append((name, .object(members))) }
            }
            add("-audiodev", json: .object(properties))
        }
    }

    /// One direction's options (`qemuBuildAudioCommonProps` and the backend's own), in
    /// libvirt's order; the fixed settings only when they are fixed.
    static func audioStreamMembers(_ stream: DomainDefinition.Audio.Stream, backend: DomainDefinition.Audio.Backend) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = []
        if let on = stream.mixingEngine { members.append(("mixing-engine", .bool(on))) }
        if let on = stream.fixedSettings { members.append(("fixed-settings", .bool(on))) }
        if let voices = stream.voices { members.append(("voices", .integer(Int64(voices)))) }
        if let length = stream.bufferLength { members.append(("buffer-length", .integer(Int64(length)))) }
        if stream.fixedSettings == true {
            if let frequency = stream.frequency { members.append(("frequency", .integer(Int64(frequency)))) }
            if let channels = stream.channels { members.append(("channels", .integer(Int64(channels)))) }
            if let format = stream.format { members.append(("format", .string(format.rawValue))) }
        }
        func positive(_ name: String, _ value: UInt32?) {
            if let value, value > 0 { members.append((name, .integer(Int64(value)))) }
        }
        switch backend {
        case .alsa:
            if let device = stream.device { members.append(("dev", .string(device))) }
        case .coreaudio, .sdl:
            positive("buffer-count", stream.bufferCount)
        case .jack:
            if let name = stream.serverName { members.append(("server-name", .string(name))) }
            if let name = stream.clientName { members.append(("client-name", .string(name))) }
            if let ports = stream.connectPorts { members.append(("connect-ports", .string(ports))) }
            if let on = stream.exactName { members.append(("exact-name", .bool(on))) }
        case .oss:
            if let device = stream.device { members.append(("dev", .string(device))) }
            positive("buffer-count", stream.bufferCount)
            if let on = stream.tryPoll { members.append(("try-poll", .bool(on))) }
        case .pulseaudio:
            if let name = stream.name { members.append(("name", .string(name))) }
            if let name = stream.streamName { members.append(("stream-name", .string(name))) }
            positive("latency", stream.latency)
        default: break
        }
        return members
    }
}

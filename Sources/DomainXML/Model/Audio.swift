import XMLTree

extension DomainDefinition {
    /// `<audio>`: an audio backend that sound cards and VNC play through. libvirt writes one at
    /// define (`none`, or `spice` for a SPICE guest) when the definition has none.
    public struct Audio: Hashable, Sendable, ModelledElement {
        /// `<audio type>`, libvirt's spellings.
        public enum Backend: String, ModelledValue {
            case none, alsa, coreaudio, jack, oss, pulseaudio, sdl, spice, file, dbus

            /// QEMU's name of the driver (`-audiodev driver=`).
            public var qemuDriver: String {
                switch self {
                case .pulseaudio: "pa"
                case .file: "wav"
                default: rawValue
                }
            }
        }

        /// `<settings format>`: the sample format of fixed settings.
        public enum SampleFormat: String, ModelledValue {
            case u8, s8, u16, s16, u32, s32, f32
        }

        /// `<audio type='sdl' driver>`: the SDL audio driver (the `SDL_AUDIODRIVER` QEMU gets).
        public enum SDLDriver: String, ModelledValue {
            case esd, alsa, arts, pulseaudio
        }

        /// `<input>` or `<output>`: one direction's settings, those every backend has and its
        /// backend's own.
        public struct Stream: Hashable, Sendable {
            public var mixingEngine: Bool?
            public var fixedSettings: Bool?
            public var voices: UInt32?
            /// Microseconds.
            public var bufferLength: UInt32?
            /// `<settings>` (fixed settings only).
            public var frequency: UInt32?
            public var channels: UInt32?
            public var format: SampleFormat?
            /// `dev` (ALSA, OSS).
            public var device: String?
            /// `bufferCount` (Core Audio, OSS, SDL).
            public var bufferCount: UInt32?
            /// `tryPoll` (OSS).
            public var tryPoll: Bool?
            /// `serverName`, `clientName`, `connectPorts`, `exactName` (JACK).
            public var serverName: String?
            public var clientName: String?
            public var connectPorts: String?
            public var exactName: Bool?
            /// `name`, `streamName`, `latency` (PulseAudio).
            public var name: String?
            public var streamName: String?
            public var latency: UInt32?

            public init() {}
        }

        /// `id`, 1 or more; QEMU's id is `audioN`.
        public var id: Int
        public var backend: Backend
        /// `path` of a `file` backend (a WAV file QEMU writes).
        public var path: String?
        /// `timerPeriod` in microseconds.
        public var timerPeriod: UInt32?
        /// `<input>`: the guest's recording side.
        public var input: Stream? {
            get { streams[.input] }
            set { streams[.input] = newValue }
        }
        /// `<output>`: the guest's playing side.
        public var output: Stream? {
            get { streams[.output] }
            set { streams[.output] = newValue }
        }
        /// The directions that have settings; kept out of line, since most backends have none
        /// and every definition has a backend.
        private var streams: [Direction: Stream] = [:]
        enum Direction: Hashable, Sendable { case input, output }
        /// `serverName` of a PulseAudio backend.
        public var serverName: String?
        /// `tryMMap`, `exclusive`, `dspPolicy` of an OSS backend.
        public var tryMMap: Bool?
        public var exclusive: Bool?
        public var dspPolicy: Int32?
        /// `driver` of an SDL backend.
        public var sdlDriver: SDLDriver?

        /// The largest id (libvirt parses it as an unsigned int; QEMU's id must stay short).
        static let maximumID = 1 << 20

        /// A backend of `id` with no options.
        public init(id: Int = 1, backend: Backend) {
            self.id = id
            self.backend = backend
        }

        static let streamAttributes = [
            "mixingEngine", "fixedSettings", "voices", "bufferLength", "dev", "bufferCount", "tryPoll", "serverName", "clientName", "connectPorts",
            "exactName", "name", "streamName", "latency",
        ]

        static let schema = ElementSchema(
            "audio", attributes: ["id", "type", "path", "timerPeriod", "serverName", "tryMMap", "exclusive", "dspPolicy", "driver"],
            children: ["input", "output"].map { ElementSchema($0, attributes: streamAttributes, children: [ElementSchema("settings", attributes: ["frequency", "channels", "format"])]) })

        /// Reads `<audio>` as libvirt does (virDomainAudioDefParseXML), with its messages; what
        /// does not belong to the backend is ignored, as libvirt ignores it.
        init(_ element: XMLElement) throws(DomainXMLError) {
            backend = try Backend.requiredAttribute("type", of: element)
            guard let text = element[attribute: "id"], let id = Int(text), id > 0, id <= Self.maximumID else {
                throw DomainXMLError(.invalid, line: element.line, "audio id must be an integer from 1 to \(Self.maximumID), not '\(element[attribute: "id"] ?? "")'")
            }
            self.id = id
            timerPeriod = try Self.nonZero("timerPeriod", of: element)
            input = try element.element(named: "input").map { stream throws(DomainXMLError) in try Self.stream(stream, backend: backend) }
            output = try element.element(named: "output").map { stream throws(DomainXMLError) in try Self.stream(stream, backend: backend) }
            switch backend {
            case .file: path = element[attribute: "path"]
            case .pulseaudio: serverName = element[attribute: "serverName"]
            case .sdl: sdlDriver = try SDLDriver.optionalAttribute("driver", of: element)
            case .oss:
                tryMMap = try AttributeValues.yesNo("tryMMap", of: element)
                exclusive = try AttributeValues.yesNo("exclusive", of: element)
                if let text = element[attribute: "dspPolicy"] {
                    guard let value = Int32(text) else {
                        throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'dspPolicy' in element 'audio': '\(text)'. Expected integer value")
                    }
                    guard value >= 0 else { throw DomainXMLError(.invalid, line: element.line, "cannot parse 'dspPolicy' value '\(value)'") }
                    dspPolicy = value
                }
            default: break
            }
        }

        /// An unsigned attribute libvirt reads with `VIR_XML_PROP_NONZERO`.
        static func nonZero(_ attribute: String, of element: XMLElement) throws(DomainXMLError) -> UInt32? {
            guard let value = try AttributeValues.unsigned(attribute, of: element) else { return nil }
            guard value != 0 else { throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(attribute)' in element '\(element.name)': Zero is not permitted") }
            return value
        }

        /// One direction's settings (virDomainAudioCommonParse and the backend's own reader).
        static func stream(_ element: XMLElement, backend: Backend) throws(DomainXMLError) -> Stream {
            var stream = Stream()
            stream.mixingEngine = try AttributeValues.yesNo("mixingEngine", of: element)
            stream.fixedSettings = try AttributeValues.yesNo("fixedSettings", of: element)
            if stream.fixedSettings == true && stream.mixingEngine != true {
                throw DomainXMLError(.unsupported, line: element.line, "fixed audio settings requires mixing engine")
            }
            stream.voices = try nonZero("voices", of: element)
            stream.bufferLength = try nonZero("bufferLength", of: element)
            if let settings = element.element(named: "settings") {
                guard stream.fixedSettings == true else {
                    throw DomainXMLError(.unsupported, line: settings.line, "audio settings specified without fixed settings flag")
                }
                stream.frequency = try nonZero("frequency", of: settings)
                stream.channels = try nonZero("channels", of: settings)
                stream.format = try SampleFormat.optionalAttribute("format", of: settings)
            }
            switch backend {
            case .alsa: stream.device = element[attribute: "dev"]
            case .coreaudio, .sdl: stream.bufferCount = try AttributeValues.unsigned("bufferCount", of: element)
            case .jack:
                stream.serverName = element[attribute: "serverName"]
                stream.clientName = element[attribute: "clientName"]
                stream.connectPorts = element[attribute: "connectPorts"]
                stream.exactName = try AttributeValues.yesNo("exactName", of: element)
            case .oss:
                stream.device = element[attribute: "dev"]
                stream.tryPoll = try AttributeValues.yesNo("tryPoll", of: element)
                stream.bufferCount = try AttributeValues.unsigned("bufferCount", of: element)
            case .pulseaudio:
                stream.name = element[attribute: "name"]
                stream.streamName = element[attribute: "streamName"]
                stream.latency = try AttributeValues.unsigned("latency", of: element)
            default: break
            }
            return stream
        }

        /// The id of the backend a device names with its `<audio id>` child, checked against
        /// the domain's backends.
        static func reference(in element: XMLElement) throws(DomainXMLError) -> Int? {
            guard let child = element.element(named: "audio"), let text = child[attribute: "id"] else { return nil }
            guard let id = Int(text), id > 0, id <= maximumID else {
                throw DomainXMLError(.invalid, line: child.line, "Invalid value for attribute 'id' in element 'audio': '\(text)'.")
            }
            return id
        }
    }
}

import XMLTree

extension DomainDefinition {
    /// `<audio>`: an audio backend that sound cards and VNC play through. libvirt writes one at
    /// define (`none`, or `spice` for a SPICE guest) when the definition has none.
    public struct Audio: Hashable, Sendable, ModelledElement {
        /// `<audio type>`, libvirt's spellings.
        public enum Backend: String, ModelledValue {
            case none, alsa, coreaudio, jack, oss, pulseaudio, sdl, spice, file, dbus, pipewire
        }

        /// `id`, 1 or more; QEMU's id is `audioN`.
        public var id: Int
        public var backend: Backend
        /// `path` of a `file` backend (a WAV file QEMU writes).
        public var path: String?
        /// `timerPeriod` in microseconds.
        public var timerPeriod: UInt32?

        /// The largest id (libvirt parses it as an unsigned int; QEMU's id must stay short).
        static let maximumID = 1 << 20

        /// A backend of `id` with no options.
        public init(id: Int = 1, backend: Backend) {
            self.id = id
            self.backend = backend
        }

        static let schema = ElementSchema("audio", attributes: ["id", "type", "path", "timerPeriod"])

        init(_ element: XMLElement) throws(DomainXMLError) {
            backend = try Backend.requiredAttribute("type", of: element)
            guard let text = element[attribute: "id"], let id = Int(text), id > 0, id <= Self.maximumID else {
                throw DomainXMLError(.invalid, line: element.line, "audio id must be an integer from 1 to \(Self.maximumID), not '\(element[attribute: "id"] ?? "")'")
            }
            self.id = id
            path = element[attribute: "path"]
            if let text = element[attribute: "timerPeriod"] {
                guard let period = UInt32(text), period > 0 else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'timerPeriod' in element 'audio': '\(text)'.")
                }
                timerPeriod = period
            }
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

import XMLTree

extension DomainDefinition {
    /// `<clock offset>`.
    public enum ClockOffset: String, ModelledValue {
        case utc, localtime, timezone, variable, absolute
    }

    /// `<clock><timer>`.
    public struct Timer: Hashable, Sendable, ModelledElement {
        /// `<timer name>`.
        public enum Name: String, ModelledValue {
            case platform, pit, rtc, hpet, tsc, kvmclock, hypervclock, armvtimer
        }

        /// `<timer tickpolicy>`.
        public enum TickPolicy: String, ModelledValue {
            case delay, catchup, merge, discard
        }

        /// `<timer track>` of the RTC: which clock it follows.
        public enum Track: String, ModelledValue {
            case boot, guest, wall, realtime
        }

        /// `<timer present>`.
        public enum Presence: String, ModelledValue {
            case yes, no
        }

        public var name: Name
        public var tickpolicy: TickPolicy?
        public var present: Bool?
        public var track: Track?
        /// `<timer frequency>` of the TSC, in Hz.
        public var frequency: UInt64?

        static let schema = ElementSchema("timer", attributes: ["name", "tickpolicy", "present", "track", "frequency"])

        init(_ element: XMLElement) throws(DomainXMLError) {
            name = try Name.requiredAttribute("name", of: element)
            tickpolicy = try TickPolicy.optionalAttribute("tickpolicy", of: element)
            present = try Presence.optionalAttribute("present", of: element).map { $0 == .yes }
            track = try Track.optionalAttribute("track", of: element)
            if let text = element[attribute: "frequency"] {
                guard let hertz = UInt64(text) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'frequency' in element 'timer': '\(text)'. Expected non-negative integer value")
                }
                frequency = hertz
            }
        }
    }

    static let clockSchema = ElementSchema("clock", attributes: ["offset"], children: [Timer.schema])
}

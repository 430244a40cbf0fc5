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

        public var name: Name
        public var tickpolicy: TickPolicy?
        public var present: Bool?

        static let schema = ElementSchema("timer", attributes: ["name", "tickpolicy", "present"])

        init(_ element: XMLElement) throws(DomainXMLError) {
            name = try Name.requiredAttribute("name", of: element)
            tickpolicy = try TickPolicy.optionalAttribute("tickpolicy", of: element)
            present = element[attribute: "present"].map { $0 == "yes" }
        }
    }

    static let clockSchema = ElementSchema("clock", attributes: ["offset"], children: [Timer.schema])
}

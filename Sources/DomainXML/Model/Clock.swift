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

    /// `<clock basis>` of a variable offset: what the adjustment counts from.
    public enum ClockBasis: String, ModelledValue {
        case utc, localtime
    }

    /// Where the guest's real-time clock starts: `<clock offset>` with the attributes it takes.
    public enum ClockStart: Hashable, Sendable {
        /// The host's UTC (`adjustment='reset'` is kept in the XML and means the same to QEMU).
        case utc
        /// The host's local time.
        case localtime
        /// The host's time in this zone (QEMU runs with `TZ` set to it).
        case timezone(String)
        /// `adjustment` seconds from UTC or from the host's local time, at every start; the
        /// guest's changes to its clock move the live adjustment.
        case variable(adjustment: Int64, basis: ClockBasis)
        /// This many seconds after the epoch, at every start.
        case absolute(start: UInt64)

        /// The latest `start` QEMU's date format can carry (9999-12-31T23:59:59; libvirt's limit).
        public static let latestAbsoluteStart: UInt64 = 253_402_300_799

        /// The offset's name.
        public var offset: ClockOffset {
            switch self {
            case .utc: .utc
            case .localtime: .localtime
            case .timezone: .timezone
            case .variable: .variable
            case .absolute: .absolute
            }
        }

        /// Reads `<clock>` as libvirt does: a number in `adjustment` of a `utc` or `localtime`
        /// clock makes it a variable one from that basis; a variable clock's adjustment that is
        /// not a number is 0.
        init(_ clock: XMLElement?) throws(DomainXMLError) {
            guard let clock else {
                self = .utc
                return
            }
            let offset: ClockOffset
            if let text = clock[attribute: "offset"] {
                guard let known = ClockOffset(rawValue: text) else {
                    throw DomainXMLError(.unsupported, line: clock.line, "unknown clock offset '\(text)'")
                }
                offset = known
            } else {
                offset = .utc
            }
            switch offset {
            case .utc, .localtime:
                guard let text = clock[attribute: "adjustment"], text != "reset" else {
                    self = offset == .utc ? .utc : .localtime
                    return
                }
                guard let seconds = Int64(text.trimmingWhitespace()) else {
                    throw DomainXMLError(.invalid, line: clock.line, "unknown clock adjustment '\(text)'")
                }
                self = .variable(adjustment: seconds, basis: offset == .utc ? .utc : .localtime)
            case .variable:
                let seconds = clock[attribute: "adjustment"].flatMap { Int64($0.trimmingWhitespace()) } ?? 0
                var basis = ClockBasis.utc
                if let text = clock[attribute: "basis"] {
                    guard let known = ClockBasis(rawValue: text) else {
                        throw DomainXMLError(.unsupported, line: clock.line, "unknown clock basis '\(text)'")
                    }
                    basis = known
                }
                self = .variable(adjustment: seconds, basis: basis)
            case .timezone:
                guard let zone = clock[attribute: "timezone"] else {
                    throw DomainXMLError(.internalError, line: clock.line, "missing 'timezone' attribute for clock with offset='timezone'")
                }
                self = .timezone(zone)
            case .absolute:
                guard let start = clock[attribute: "start"].flatMap({ UInt64($0.trimmingWhitespace()) }) else {
                    throw DomainXMLError(.internalError, line: clock.line, "missing 'start' attribute for clock with offset='absolute'")
                }
                guard start <= Self.latestAbsoluteStart else {
                    throw DomainXMLError(.unsupported, line: clock.line, "The maximum 'start' value for <clock offset='absolute'> is \(Self.latestAbsoluteStart)")
                }
                self = .absolute(start: start)
            }
        }

        /// `<clock>`'s attributes as libvirt writes them, in its order (`reset` is the
        /// definition's own `adjustment='reset'`, kept on a `utc` or `localtime` clock).
        func attributes(reset: Bool) -> [(String, String)] {
            switch self {
            case .utc, .localtime: [("offset", offset.rawValue)] + (reset ? [("adjustment", "reset")] : [])
            case .timezone(let zone): [("offset", "timezone"), ("timezone", zone)]
            case .variable(let adjustment, let basis): [("offset", "variable"), ("adjustment", String(adjustment)), ("basis", basis.rawValue)]
            case .absolute(let start): [("offset", "absolute"), ("start", String(start))]
            }
        }
    }

    /// The attributes of `<clock>` Corral reads (`adjustment0` is libvirt's status-only one: read, never written).
    static let clockAttributes = ["offset", "adjustment", "basis", "timezone", "start", "adjustment0"]

    static let clockSchema = ElementSchema("clock", attributes: clockAttributes, children: [Timer.schema])
}

public import XMLTree

extension DomainDefinition {
    /// A host performance counter libvirt can keep for a guest's QEMU process (`<perf><event>`),
    /// in libvirt's order (`virPerfEventType`), which is also the order dumpxml writes them in.
    public enum PerfEvent: String, ModelledValue {
        case cmt, mbmt, mbml
        case cpuCycles = "cpu_cycles", instructions
        case cacheReferences = "cache_references", cacheMisses = "cache_misses"
        case branchInstructions = "branch_instructions", branchMisses = "branch_misses"
        case busCycles = "bus_cycles", stalledCyclesFrontend = "stalled_cycles_frontend"
        case stalledCyclesBackend = "stalled_cycles_backend", refCPUCycles = "ref_cpu_cycles"
        case cpuClock = "cpu_clock", taskClock = "task_clock", pageFaults = "page_faults"
        case contextSwitches = "context_switches", cpuMigrations = "cpu_migrations"
        case pageFaultsMinor = "page_faults_min", pageFaultsMajor = "page_faults_maj"
        case alignmentFaults = "alignment_faults", emulationFaults = "emulation_faults"

        /// The kernel's counter (`perf_event_attr` type and config); `nil` for the Intel RDT
        /// events (cmt, mbmt, mbml), which Linux no longer counts through perf, so libvirt 9.0
        /// refuses them.
        public var kernelCounter: (type: UInt32, config: UInt64)? {
            let hardware: UInt32 = 0, software: UInt32 = 1
            switch self {
            case .cmt, .mbmt, .mbml: return nil
            case .cpuCycles: return (hardware, 0)
            case .instructions: return (hardware, 1)
            case .cacheReferences: return (hardware, 2)
            case .cacheMisses: return (hardware, 3)
            case .branchInstructions: return (hardware, 4)
            case .branchMisses: return (hardware, 5)
            case .busCycles: return (hardware, 6)
            case .stalledCyclesFrontend: return (hardware, 7)
            case .stalledCyclesBackend: return (hardware, 8)
            case .refCPUCycles: return (hardware, 9)
            case .cpuClock: return (software, 0)
            case .taskClock: return (software, 1)
            case .pageFaults: return (software, 2)
            case .contextSwitches: return (software, 3)
            case .cpuMigrations: return (software, 4)
            case .pageFaultsMinor: return (software, 5)
            case .pageFaultsMajor: return (software, 6)
            case .alignmentFaults: return (software, 7)
            case .emulationFaults: return (software, 8)
            }
        }
    }

    /// `<perf>`: each event's `enabled`, for the events the definition names.
    public struct PerfEvents: Hashable, Sendable {
        /// The events named, with whether each is on.
        public var settings: [PerfEvent: Bool] = [:]

        /// The events to count.
        public var enabled: [PerfEvent] { PerfEvent.allCases.filter { settings[$0] == true } }

        static let schema = ElementSchema("perf", children: [ElementSchema("event", attributes: ["name", "enabled"])])

        public init() {}

        /// Reads `<perf>` with libvirt's checks.
        public init(_ element: XMLElement) throws(DomainXMLError) {
            for event in element.elements(named: "event") {
                let name = try PerfEvent.requiredAttribute("name", of: event)
                let enabled = try Switch.requiredAttribute("enabled", of: event)
                guard settings[name] == nil else { throw DomainXMLError(.invalid, line: event.line, "perf event '\(name.rawValue)' was already specified") }
                settings[name] = enabled == .yes
            }
        }

        /// `<perf>` as libvirt writes it (events in libvirt's order), or `nil` when it names none.
        public var element: XMLElement? {
            let events = PerfEvent.allCases.compactMap { event in
                settings[event].map { XMLNode.element(XMLElement(name: "event", attributes: [
                    XMLAttribute(name: "name", value: event.rawValue), XMLAttribute(name: "enabled", value: $0 ? "yes" : "no"),
                ])) }
            }
            return events.isEmpty ? nil : XMLElement(name: "perf", children: events)
        }

        /// `enabled`'s spellings.
        enum Switch: String, ModelledValue {
            case yes, no
        }
    }
}

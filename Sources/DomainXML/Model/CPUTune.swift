public import XMLTree

extension DomainDefinition {
    /// A set of host CPUs as libvirt writes it (`0-3,^2,6`): ranges, single CPUs and exclusions.
    public struct CPUSet: Hashable, Sendable, CustomStringConvertible {
        /// libvirt's `VIR_DOMAIN_CPUMASK_LEN`: CPUs are numbered below it.
        public static let limit = 16_384

        public var cpus: Set<Int>

        public init(_ cpus: Set<Int>) { self.cpus = cpus }

        /// Parses libvirt's syntax; `nil` for anything else (or CPUs past ``limit``).
        public init?(parsing text: String) {
            var included = Set<Int>(), excluded = Set<Int>()
            for rawPart in text.split(separator: ",", omittingEmptySubsequences: false) {
                var part = Substring(rawPart.filter { $0 != " " })
                let exclude = part.hasPrefix("^")
                if exclude { part = part.dropFirst() }
                let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
                guard let first = bounds.first.flatMap({ Int($0) }), first >= 0, first < Self.limit else { return nil }
                var last = first
                if bounds.count == 2 {
                    guard !exclude, let end = Int(bounds[1]), end >= first, end < Self.limit else { return nil }
                    last = end
                }
                if exclude { excluded.insert(first) } else { included.formUnion(first...last) }
            }
            cpus = included.subtracting(excluded)
        }

        /// From a cpumap (CPU n is bit n % 8 of byte n / 8).
        public init(map: [UInt8]) {
            var cpus = Set<Int>()
            for (byte, bits) in map.enumerated() where bits != 0 {
                for bit in 0..<8 where bits & (1 << bit) != 0 { cpus.insert(byte * 8 + bit) }
            }
            self.cpus = cpus
        }

        /// The cpumap of `length` bytes.
        public func map(length: Int) -> [UInt8] {
            var map = [UInt8](repeating: 0, count: length)
            for cpu in cpus where cpu / 8 < length { map[cpu / 8] |= 1 << (cpu % 8) }
            return map
        }

        /// libvirt's formatting: ascending, runs as ranges (`0-3,6`).
        public var description: String {
            var parts: [String] = []
            var sorted = cpus.sorted()[...]
            while let start = sorted.popFirst() {
                var end = start
                while sorted.first == end + 1 { end = sorted.removeFirst() }
                parts.append(end == start ? String(start) : "\(start)-\(end)")
            }
            return parts.joined(separator: ",")
        }
    }

    /// `<cputune>`: where the vCPUs and the emulator's own threads may run.
    public struct CPUTune: Hashable, Sendable, ModelledElement {
        /// `<vcpupin vcpu cpuset>`, by vCPU.
        public var vcpuPins: [Int: CPUSet] = [:]
        /// `<emulatorpin cpuset>`.
        public var emulatorPin: CPUSet?
        /// `<iothreadpin iothread cpuset>`, by I/O thread id.
        public var ioThreadPins: [Int: CPUSet] = [:]
        /// `<shares>`: the guest's CPU weight against other processes.
        public var shares: UInt64?
        /// `<global_period>` (µs) and `<global_quota>` (µs, -1 none): the whole guest's CPU
        /// bandwidth.
        public var globalPeriod: UInt64?
        public var globalQuota: Int64?
        /// `<period>`/`<quota>` (each vCPU's bandwidth), `<emulator_period>`/`<emulator_quota>`
        /// (the emulator threads') and `<iothread_period>`/`<iothread_quota>` (each I/O
        /// thread's), in µs; a quota below 0 is no limit.
        public var vcpuBandwidth = Bandwidth()
        public var emulatorBandwidth = Bandwidth()
        public var ioThreadBandwidth = Bandwidth()

        /// A CFS bandwidth: `period` µs, of which the group may run `quota` µs (below 0: no limit).
        public struct Bandwidth: Hashable, Sendable {
            public var period: UInt64?
            public var quota: Int64?
            public var isEmpty: Bool { period == nil && quota == nil }
            public init(period: UInt64? = nil, quota: Int64? = nil) {
                self.period = period
                self.quota = quota
            }
        }

        /// The period and quota elements of the per-thread groups, by what they limit.
        static let threadBandwidthElements = [("period", "quota"), ("emulator_period", "emulator_quota"), ("iothread_period", "iothread_quota")]

        /// libvirt's reading of a period or quota element (`virXPathULongLong`/`LongLong`: 0 is
        /// unset) and its ranges (`CPUTUNE_VALIDATE_PERIOD`/`_QUOTA`).
        static func bandwidth(_ tune: XMLElement, period periodName: String, quota quotaName: String) throws(DomainXMLError) -> Bandwidth {
            var result = Bandwidth()
            // An empty element is no value (libvirt's XPath reading).
            if let element = tune.element(named: periodName), !element.text.trimmingWhitespace().isEmpty {
                let label = String(periodName.map { $0 == "_" ? " " : $0 })
                guard let value = UInt64(element.text.trimmingWhitespace()) else {
                    throw DomainXMLError(.invalid, line: element.line, "can't parse cputune \(label) value")
                }
                guard value == 0 || (1000...1_000_000).contains(value) else {
                    throw DomainXMLError(.unsupported, line: element.line, "Value of cputune '\(periodName)' must be in range [1000, 1000000]")
                }
                result.period = value == 0 ? nil : value
            }
            if let element = tune.element(named: quotaName), !element.text.trimmingWhitespace().isEmpty {
                let label = String(quotaName.map { $0 == "_" ? " " : $0 })
                guard let value = Int64(element.text.trimmingWhitespace()) else {
                    throw DomainXMLError(.invalid, line: element.line, "can't parse cputune \(label) value")
                }
                guard value <= 0 || (1000...17_592_186_044_415).contains(value) else {
                    throw DomainXMLError(.unsupported, line: element.line, "Value of cputune '\(quotaName)' must be in range [1000, 17592186044415]")
                }
                result.quota = value == 0 ? nil : value
            }
            return result
        }

        static let schema = ElementSchema("cputune", children: [
            .text("shares"), .text("global_period"), .text("global_quota"), .text("period"), .text("quota"), .text("emulator_period"),
            .text("emulator_quota"), .text("iothread_period"), .text("iothread_quota"),
            ElementSchema("vcpupin", attributes: ["vcpu", "cpuset"]), ElementSchema("emulatorpin", attributes: ["cpuset"]),
            ElementSchema("iothreadpin", attributes: ["iothread", "cpuset"]),
        ])

        /// Whether it asks for anything of the cpu controller.
        public var usesCPUController: Bool {
            shares != nil || globalPeriod != nil || globalQuota != nil || !vcpuBandwidth.isEmpty || !emulatorBandwidth.isEmpty || !ioThreadBandwidth.isEmpty
        }

        public init() {}

        init(_ element: XMLElement, maximumVcpus: Int, ioThreads: [Int] = []) throws(DomainXMLError) {
            for pin in element.elements(named: "vcpupin") {
                guard let text = pin[attribute: "vcpu"], let vcpu = Int(text), vcpu >= 0 else {
                    throw DomainXMLError(.invalid, line: pin.line, "Missing required attribute 'vcpu' in element 'vcpupin'")
                }
                // libvirt ignores pins of vCPUs the domain does not have.
                guard vcpu < maximumVcpus else { continue }
                guard vcpuPins[vcpu] == nil else { throw DomainXMLError(.invalid, line: pin.line, "duplicate vcpupin for vcpu '\(vcpu)'") }
                vcpuPins[vcpu] = try Self.cpuset(pin)
            }
            if let pin = element.element(named: "emulatorpin") { emulatorPin = try Self.cpuset(pin) }
            // libvirt's virDomainIOThreadPinDefParseXML, with its messages.
            for pin in element.elements(named: "iothreadpin") {
                guard let text = pin[attribute: "iothread"] else {
                    throw DomainXMLError(.invalid, line: pin.line, "Missing required attribute 'iothread' in element 'iothreadpin'")
                }
                guard let id = Int(text), id > 0 else {
                    throw DomainXMLError(.invalid, line: pin.line, "Invalid value for attribute 'iothread' in element 'iothreadpin': '\(text)'. Expected non-zero value")
                }
                guard ioThreads.contains(id) else { throw DomainXMLError(.unsupported, line: pin.line, "Cannot find 'iothread' : \(id)") }
                guard pin[attribute: "cpuset"] != nil else { throw DomainXMLError(.invalid, line: pin.line, "missing cpuset for iothreadpin") }
                guard ioThreadPins[id] == nil else { throw DomainXMLError(.invalid, line: pin.line, "duplicate iothreadpin for same iothread '\(id)'") }
                ioThreadPins[id] = try Self.cpuset(pin)
            }
            func number<T: FixedWidthInteger>(_ name: String, _ range: ClosedRange<T>) throws(DomainXMLError) -> T? {
                guard let child = element.element(named: name) else { return nil }
                guard let value = T(child.text.trimmingWhitespace()), range.contains(value) else {
                    throw DomainXMLError(.invalid, line: child.line, "Value of cputune '\(name)' must be in range [\(range.lowerBound), \(range.upperBound)]")
                }
                return value
            }
            shares = try number("shares", 2...262_144)
            globalPeriod = try number("global_period", 1000...1_000_000)
            globalQuota = try number("global_quota", -1...17_592_186_044_415)
            if let quota = globalQuota, quota != -1, quota < 1000 {
                throw DomainXMLError(.invalid, "Value of cputune 'global_quota' must be in range [1000, 17592186044415] or less than 0")
            }
            vcpuBandwidth = try Self.bandwidth(element, period: "period", quota: "quota")
            emulatorBandwidth = try Self.bandwidth(element, period: "emulator_period", quota: "emulator_quota")
            ioThreadBandwidth = try Self.bandwidth(element, period: "iothread_period", quota: "iothread_quota")
        }

        static func cpuset(_ element: XMLElement) throws(DomainXMLError) -> CPUSet {
            guard let text = element[attribute: "cpuset"] else { throw DomainXMLError(.invalid, line: element.line, "missing cpuset for \(element.name)") }
            guard let set = CPUSet(parsing: text) else { throw DomainXMLError(.invalid, line: element.line, "Failed to parse bitmap '\(text)'") }
            guard !set.cpus.isEmpty else { throw DomainXMLError(.unsupported, line: element.line, "Invalid value of 'cpuset': \(text)") }
            return set
        }
    }
}

import XMLTree

extension DomainDefinition {
    /// `<cpu>`.
    public struct CPU: Hashable, Sendable, ModelledElement {
        /// `<cpu mode>`.
        public enum Mode: String, ModelledValue {
            case custom, hostModel = "host-model", hostPassthrough = "host-passthrough", maximum
        }

        /// `<feature policy>`.
        public enum FeaturePolicy: String, ModelledValue {
            case force, require, optional, disable, forbid
        }

        /// `<cache mode>`.
        public enum CacheMode: String, ModelledValue {
            case emulate, passthrough, disable
        }

        /// `<feature>`: a CPUID feature switched on or off.
        public struct Feature: Hashable, Sendable {
            public var name: String
            public var policy: FeaturePolicy
        }

        public var mode: Mode?
        public var model: String?
        /// `<vendor>` of a custom model.
        public var vendor: String?
        public var features: [Feature] = []
        /// `<cache mode>`; only level 3 (or no level) is modelled.
        public var cache: CacheMode?
        /// `migratable` of host-passthrough and maximum.
        public var migratable: FeatureSwitch?
        /// `<topology>`: sockets, dies, cores, threads.
        public var topology: Topology?

        static let schema = ElementSchema("cpu", attributes: ["mode", "match", "check", "migratable"], children: [
            .text("model", attributes: ["fallback", "vendor_id"]), .text("vendor"), Topology.schema,
            ElementSchema("feature", attributes: ["policy", "name"]), ElementSchema("cache", attributes: ["mode", "level"]),
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            mode = try Mode.optionalAttribute("mode", of: element)
            model = element.element(named: "model")?.text
            topology = element.element(named: "topology").map(Topology.init)
            migratable = try FeatureSwitch.optionalAttribute("migratable", of: element)
            if let vendorElement = element.element(named: "vendor") {
                guard mode == nil || mode == .custom else {
                    throw DomainXMLError(.invalid, line: vendorElement.line, "CPU vendor specified without CPU model")
                }
                vendor = try Self.safeName(vendorElement.text, what: "CPU vendor", line: vendorElement.line)
            }
            for feature in element.elements(named: "feature") {
                guard let name = feature[attribute: "name"] else {
                    throw DomainXMLError(.invalid, line: feature.line, "Invalid CPU feature name")
                }
                let policy = try FeaturePolicy.optionalAttribute("policy", of: feature) ?? .require
                let checked = try Self.safeName(name, what: "CPU feature", line: feature.line)
                guard !features.contains(where: { $0.name == checked }) else {
                    throw DomainXMLError(.invalid, line: feature.line, "CPU feature '\(checked)' specified more than once")
                }
                features.append(Feature(name: checked, policy: policy))
            }
            if let cacheElement = element.element(named: "cache") {
                if let level = cacheElement[attribute: "level"], level != "3" {
                    throw DomainXMLError(.unsupported, line: cacheElement.line, "CPU cache level \(level) is not supported")
                }
                cache = try CacheMode.requiredAttribute("mode", of: cacheElement)
            }
        }

        /// A name that goes into QEMU's `-cpu` option: letters, digits, `_`, `-` and `.` only.
        static func safeName(_ text: String, what: String, line: Int) throws(DomainXMLError) -> String {
            guard !text.isEmpty, text.utf8.count <= 64, text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }) else {
                throw DomainXMLError(.invalid, line: line, "invalid \(what) name '\(text)'")
            }
            return text
        }
    }

    /// `<cpu><topology>`.
    public struct Topology: Hashable, Sendable, ModelledElement {
        public var sockets: Int
        public var dies: Int
        public var cores: Int
        public var threads: Int

        static let schema = ElementSchema("topology", attributes: ["sockets", "dies", "cores", "threads"])

        /// Reads a `<topology>` whose numbers were range-checked by the normaliser.
        init(_ element: XMLElement) {
            func number(_ name: String) -> Int { Int(element[attribute: name] ?? "1") ?? 1 }
            sockets = number("sockets")
            dies = number("dies")
            cores = number("cores")
            threads = number("threads")
        }

        /// The vCPUs the topology describes (bounded by the definition's checks).
        public var vcpuCount: Int { sockets * dies * cores * threads }

        public init(sockets: Int, dies: Int, cores: Int, threads: Int) {
            self.sockets = sockets
            self.dies = dies
            self.cores = cores
            self.threads = threads
        }
    }
}

import XMLTree

extension DomainDefinition {
    /// `<cpu>`.
    public struct CPU: Hashable, Sendable, ModelledElement {
        /// `<cpu mode>`.
        public enum Mode: String, ModelledValue {
            case custom, hostModel = "host-model", hostPassthrough = "host-passthrough", maximum
        }

        public var mode: Mode?
        public var model: String?
        /// `<topology>`: sockets, dies, cores, threads.
        public var topology: Topology?

        static let schema = ElementSchema("cpu", attributes: ["mode", "match", "check", "migratable"], children: [
            .text("model", attributes: ["fallback"]), Topology.schema,
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            mode = try Mode.optionalAttribute("mode", of: element)
            model = element.element(named: "model")?.text
            topology = element.element(named: "topology").map(Topology.init)
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

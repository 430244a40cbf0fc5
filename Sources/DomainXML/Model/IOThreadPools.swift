public import XMLTree

extension DomainDefinition {
    /// The worker-thread pool of an I/O thread or of QEMU's main loop (`thread_pool_min` and
    /// `thread_pool_max` of `<iothread>` and `<defaultiothread>`); `nil`: QEMU's default.
    public struct ThreadPoolSize: Hashable, Sendable {
        public var minimum: Int?
        public var maximum: Int?

        public init(minimum: Int? = nil, maximum: Int? = nil) {
            self.minimum = minimum
            self.maximum = maximum
        }

        public var isEmpty: Bool { minimum == nil && maximum == nil }

        /// Reads the two attributes of `element` with libvirt's messages (non-negative integers).
        init(_ element: XMLElement) throws(DomainXMLError) {
            func read(_ attribute: String) throws(DomainXMLError) -> Int? {
                guard let text = element[attribute: attribute] else { return nil }
                guard let value = Int32(text.trimmingWhitespace()) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(attribute)' in element '\(element.name)': '\(text)'. Expected integer value")
                }
                guard value >= 0 else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(attribute)' in element '\(element.name)': '\(text)'. Expected non-negative value")
                }
                return Int(value)
            }
            minimum = try read("thread_pool_min")
            maximum = try read("thread_pool_max")
        }

        /// libvirt's check (`virDomainDefValidateIOThreadsThreadPool`), which compares an unset
        /// size as -1: a minimum without a maximum is refused, as libvirt 9.0 refuses it.
        func validate(line: Int) throws(DomainXMLError) {
            if maximum == 0 { throw DomainXMLError(.unsupported, line: line, "thread_pool_max must be a positive integer") }
            if (minimum ?? -1) > (maximum ?? -1) {
                throw DomainXMLError(.unsupported, line: line, "thread_pool_min must be smaller or equal to thread_pool_max")
            }
        }

        /// QEMU's properties (`thread-pool-min`, `thread-pool-max`) for what is set.
        public var qemuProperties: [(String, Int)] {
            [("thread-pool-min", minimum), ("thread-pool-max", maximum)].compactMap { name, value in value.map { (name, $0) } }
        }
    }

    /// The pools `<iothreadids>` gives its threads, by id, and `<defaultiothread>`'s, checked.
    static func ioThreadPools(_ root: XMLElement) throws(DomainXMLError) -> (threads: [Int: ThreadPoolSize], mainLoop: ThreadPoolSize?) {
        var threads: [Int: ThreadPoolSize] = [:]
        for thread in root.element(named: "iothreadids")?.elements(named: "iothread") ?? [] {
            let pool = try ThreadPoolSize(thread)
            try pool.validate(line: thread.line)
            if !pool.isEmpty, let id = thread[attribute: "id"].flatMap({ Int($0) }) { threads[id] = pool }
        }
        var mainLoop: ThreadPoolSize?
        if let element = root.element(named: "defaultiothread") {
            let pool = try ThreadPoolSize(element)
            try pool.validate(line: element.line)
            mainLoop = pool.isEmpty ? nil : pool
        }
        return (threads, mainLoop)
    }
}

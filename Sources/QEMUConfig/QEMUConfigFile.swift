/// One `key = "value"` line of a configuration-file section.
public struct QEMUConfigEntry: Hashable, Sendable {
    /// The key (at most 63 bytes, no whitespace).
    public var key: String
    /// The value (at most 1023 bytes; no double quote, newline or NUL).
    public var value: String

    /// Creates an entry.
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// One section of QEMU's configuration file: `[group]` or `[group "id"]` and its keys, in order.
public struct QEMUConfigSection: Hashable, Sendable {
    /// The option group (`device`, `object`, `machine`, …).
    public var group: String
    /// The section's id, if its header has one.
    public var id: String?
    /// The keys, in file order; repeats are kept (QEMU itself keeps only the last).
    public var entries: [QEMUConfigEntry]

    /// Creates a section.
    public init(group: String, id: String? = nil, entries: [QEMUConfigEntry] = []) {
        self.group = group
        self.id = id
        self.entries = entries
    }

    /// The last value given for `key` (the one QEMU uses).
    public subscript(key: String) -> String? {
        entries.last { $0.key == key }?.value
    }
}

/// A whole configuration file (`-readconfig`): its sections in order.
public struct QEMUConfigFile: Hashable, Sendable {
    /// The sections, in file order.
    public var sections: [QEMUConfigSection]

    /// Creates a file.
    public init(sections: [QEMUConfigSection] = []) {
        self.sections = sections
    }
}

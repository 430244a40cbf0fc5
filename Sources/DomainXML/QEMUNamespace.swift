public import QEMUConfig

/// libvirt's QEMU namespace URI, matched by URI whatever the prefix.
public let qemuNamespaceURI = "http://libvirt.org/schemas/domain/qemu/1.0"

/// An environment variable from `<qemu:env>`.
public struct QEMUEnvironmentVariable: Hashable, Sendable {
    /// The name (`^[A-Za-z_][A-Za-z0-9_]*$`).
    public var name: String
    /// The value; `nil` when the attribute is absent (QEMU then gets the empty string).
    public var value: String?

    /// Creates a variable.
    public init(name: String, value: String?) {
        self.name = name
        self.value = value
    }
}

/// A rule that alters the options Corral generates (`<qemu:alter>`, Corral's addition).
public struct OptionAlteration: Hashable, Sendable {
    /// The option, always with its leading dash (`-device`).
    public var option: String
    /// A regular expression the option's value must match; `nil` selects every occurrence.
    public var match: String?
    /// A new option name (with its dash).
    public var rename: String?
    /// `key=value` pairs to set in the option's value.
    public var modify: [String]
    /// Drop the occurrence.
    public var remove: Bool
    /// Arguments inserted right after the occurrence, one argv element each.
    public var extra: [String]

    /// Creates a rule.
    public init(option: String, match: String? = nil, rename: String? = nil, modify: [String] = [], remove: Bool = false, extra: [String] = []) {
        self.option = option
        self.match = match
        self.rename = rename
        self.modify = modify
        self.remove = remove
        self.extra = extra
    }
}

/// One property override of a device's frontend (`<qemu:property>`).
public struct DevicePropertyOverride: Hashable, Sendable {
    /// The property's type.
    public enum ValueType: String, Hashable, Sendable, CaseIterable {
        case string, signed, unsigned, bool, remove
    }

    /// The property name (never `id`).
    public var name: String
    /// The type.
    public var type: ValueType
    /// The value; absent exactly for ``ValueType/remove``.
    public var value: String?

    /// Creates an override.
    public init(name: String, type: ValueType, value: String?) {
        self.name = name
        self.type = type
        self.value = value
    }
}

/// The overrides of one device, by alias (`<qemu:device alias='…'>`).
public struct DeviceOverride: Hashable, Sendable {
    /// The device alias (for example `ua-disk`).
    public var alias: String
    /// The frontend properties, in order.
    public var frontend: [DevicePropertyOverride]

    /// Creates an override.
    public init(alias: String, frontend: [DevicePropertyOverride]) {
        self.alias = alias
        self.frontend = frontend
    }
}

/// Everything a domain carries in the QEMU namespace.
public struct QEMUNamespace: Hashable, Sendable {
    /// Extra arguments (`<qemu:arg value>`), in order.
    public var arguments: [String] = []
    /// Extra environment (`<qemu:env>`), in order.
    public var environment: [QEMUEnvironmentVariable] = []
    /// Alteration rules (`<qemu:alter>`), in order.
    public var alterations: [OptionAlteration] = []
    /// Capabilities to add (`<qemu:add capability>`).
    public var capabilitiesAdded: [String] = []
    /// Capabilities to remove (`<qemu:del capability>`).
    public var capabilitiesRemoved: [String] = []
    /// `<qemu:deprecation behavior>`.
    public var deprecationBehavior: String?
    /// Device property overrides.
    public var overrides: [DeviceOverride] = []
    /// QEMU configuration-file sections (Corral's addition).
    public var configSections = QEMUConfigFile()
    /// How many dedicated passthrough monitors the guest gets (`<qemu:passthrough monitors='N'/>`,
    /// Corral's addition); `nil`: ``defaultPassthroughMonitors``.
    public var passthroughMonitors: Int?

    /// The passthrough monitors a guest gets when its definition does not say: clients of
    /// `DOMAIN_MONITOR_COMMAND` are spread over them (one connection always on the same one, so
    /// its commands stay ordered), because QEMU runs one monitor's commands one after another.
    public static let defaultPassthroughMonitors = 4
    /// The most a definition may ask for.
    public static let passthroughMonitorRange = 1...32

    /// The passthrough monitors the guest gets.
    public var passthroughMonitorCount: Int { passthroughMonitors ?? Self.defaultPassthroughMonitors }

    /// Creates an empty namespace.
    public init() {}

    /// Whether there is nothing in it.
    public var isEmpty: Bool {
        arguments.isEmpty && environment.isEmpty && alterations.isEmpty && capabilitiesAdded.isEmpty && capabilitiesRemoved.isEmpty
            && deprecationBehavior == nil && overrides.isEmpty && configSections.sections.isEmpty && passthroughMonitors == nil
    }
}

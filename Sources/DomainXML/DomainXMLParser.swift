public import XMLTree

/// How definitions are completed: what libvirt would take from the host and emulator.
public struct DomainXMLOptions: Sendable {
    /// The emulator written when `<emulator>` is absent.
    public var defaultEmulator: String = "/usr/bin/qemu-system-x86_64"
    /// Machine aliases to their canonical names (`q35` → `pc-q35-7.2`), from the emulator.
    public var machineAliases: [String: String] = [:]
    /// The machine used when `<type>` names none (canonical name), from the emulator.
    public var defaultMachine: String?
    /// Each machine's default CPU model (canonical machine name → `qemu64`), from the emulator's
    /// `default-cpu-type`: written into a definition that names no CPU model, as libvirt does.
    public var defaultCPUModels: [String: String] = [:]
    /// What a 32-bit x86 guest (`arch='i686'`) is completed with when the host has an emulator
    /// of its own for it (`qemu-system-i386`, which libvirt's capabilities name for i686): a
    /// definition without `<emulator>`, or naming that one, runs on it and takes its machines and
    /// default CPU model (`qemu32`). `nil`, or a definition naming another emulator: the fields
    /// above, as libvirt on a host with the 64-bit emulator only.
    public var i686: EmulatorDefaults?
    /// Whether SPICE servers may use TLS (qemu.conf's `spice_tls`): without it a definition
    /// with a SPICE TLS port is refused, as libvirt refuses it.
    public var spiceTLS = false
    /// Where generated UUIDs and MAC addresses come from.
    public var random = RandomSource.system
    /// Parsing limits (size, depth).
    public var limits = XMLParseLimits(maximumBytes: 4 << 20, maximumDepth: 64, maximumAttributes: 64)
    /// Whether the document is a running guest's (a status file): its run-time details, such as
    /// a disk's `<source index>`, are kept. A definition loses them, as libvirt's do.
    public var keepsLiveState = false
    /// Whether the document is checked as a new definition (``DefinitionChecks``), as libvirt
    /// validates at define; stored definitions are loaded without (start checks them).
    public var checksNewDefinitions = true
    /// Whether the controllers stay in the document's order: for a document the daemon itself
    /// keeps (a definition being started, a running guest's), whose order its devices were
    /// named by. Otherwise they are put in the order libvirt's parser keeps
    /// (``DomainNormalizer/orderControllersAsParsed(_:)``).
    public var keepsControllerOrder = false

    /// Default options.
    public init() {}

    /// One emulator's part of the options (``i686``).
    public struct EmulatorDefaults: Sendable {
        public var emulator: String
        public var machineAliases: [String: String] = [:]
        public var defaultMachine: String?
        public var defaultCPUModels: [String: String] = [:]

        public init(emulator: String) { self.emulator = emulator }
    }

    /// The architectures Corral runs guests of (libvirt's names).
    public static let architectures: Set<String> = ["x86_64", "i686"]

    /// The emulator-specific defaults for a guest of `arch` naming `emulator` (`nil`: none).
    public func defaults(arch: String, emulator: String?) -> EmulatorDefaults {
        if arch == "i686", let i686, emulator == nil || emulator == i686.emulator { return i686 }
        var defaults = EmulatorDefaults(emulator: defaultEmulator)
        defaults.machineAliases = machineAliases
        defaults.defaultMachine = defaultMachine
        defaults.defaultCPUModels = defaultCPUModels
        return defaults
    }
}

/// A parsed, validated and normalised domain definition.
public struct ParsedDomain: Sendable, Hashable {
    /// The typed view.
    public var definition: DomainDefinition
    /// The normalised document (defaults filled, units converted, libvirt's order, the qemu
    /// namespace written canonically), unmodelled XML included.
    public var document: XMLElement
    /// Everything the document holds that Corral does not model, for start-time errors.
    public var unmodelled: [String]

    /// The document as text, as `dumpxml --inactive` returns it.
    public var xml: String { DomainXMLFormatter.format(document) }

    /// Why a definition named `name` that holds `unmodelled` XML is not started, if it is not.
    public static func startRefusal(name: String, unmodelled: [String]) -> String? {
        guard !unmodelled.isEmpty else { return nil }
        return "domain '\(name)' uses XML that Corral does not model, so it cannot be started faithfully: \(unmodelled.joined(separator: "; "))"
    }
}

/// Parses libvirt domain XML into a ``ParsedDomain``.
public enum DomainXMLParser {
    /// Parses, validates and normalises `xml`.
    ///
    /// - Throws: ``DomainXMLError`` naming the line and what is wrong; hostile documents (DTDs,
    ///   entities, oversized or overly deep ones) are refused before anything is built from them.
    public static func parse(_ xml: String, options: DomainXMLOptions = DomainXMLOptions()) throws(DomainXMLError) -> ParsedDomain {
        let root: XMLElement
        do {
            root = try XMLTreeParser.parse(xml, limits: options.limits)
        } catch {
            throw DomainXMLError(.malformed, line: error.line, error.message)
        }
        return try parse(root, options: options)
    }

    /// Validates and normalises an already parsed `<domain>` element.
    public static func parse(_ input: XMLElement, options: DomainXMLOptions = DomainXMLOptions()) throws(DomainXMLError) -> ParsedDomain {
        guard input.name == "domain", input.namespace == nil else {
            throw DomainXMLError(.invalid, line: input.line, "unexpected root element <\(input.name)>, expecting <domain>")
        }
        let qemu = try QEMUNamespace.parse(input.children.compactMap { if case .element(let e) = $0, e.namespace == qemuNamespaceURI { e } else { nil } })
        var root = input
        root.children = root.children.filter { node in
            if case .element(let e) = node { return e.namespace != qemuNamespaceURI }
            return false
        }
        try DomainNormalizer.normalize(&root, options: options)
        root.children += qemu.elements().map { .element($0) }
        let definition = try DomainDefinition(normalized: root, qemu: qemu)
        try validate(definition, document: root)
        if options.checksNewDefinitions && !options.keepsLiveState {
            // (A <bootloader> is XML Corral does not model, so start refuses a stored one.)
            if root.element(named: "bootloader") != nil { throw DomainXMLError(.unsupported, "bootloader is not supported by QEMU") }
            try DefinitionChecks.checkLaunchSecurity(root)
            try DefinitionChecks.check(definition, spiceTLS: options.spiceTLS)
        }
        return ParsedDomain(definition: definition, document: root, unmodelled: DomainSchema.unmodelled(in: root))
    }

    static func validate(_ definition: DomainDefinition, document: XMLElement) throws(DomainXMLError) {
        var aliases = Set<String>()
        for alias in definition.devices.aliases {
            // Only user aliases must be unique, as in libvirt: the ones libvirt gives may repeat
            // (a USB controller and its companions are all `usb`).
            guard !alias.hasPrefix("ua-") || aliases.insert(alias).inserted else {
                throw DomainXMLError(.invalid, "non unique alias detected: \(alias)")
            }
            // Aliases become QEMU ids: a letter first, then letters, digits, '-', '.' and '_'.
            guard let first = alias.unicodeScalars.first, ("a"..."z").contains(first) || ("A"..."Z").contains(first),
                alias.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "." || $0 == "_") })
            else {
                throw DomainXMLError(.invalid, "alias '\(alias)' must start with a letter and hold only letters, digits, '-', '.' and '_'")
            }
        }
        for disk in definition.devices.disks where disk.targetDevice.isEmpty {
            throw DomainXMLError(.invalid, "missing target information for device \(disk.source ?? "disk")")
        }
        var targets = Set<String>()
        for disk in definition.devices.disks where !targets.insert(disk.targetDevice).inserted {
            throw DomainXMLError(.invalid, "target '\(disk.targetDevice)' duplicated for disk sources")
        }
    }
}

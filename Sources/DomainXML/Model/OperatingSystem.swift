import XMLTree

extension DomainDefinition {
    /// `<os>`.
    public struct OperatingSystem: Hashable, Sendable, ModelledElement {
        /// `<boot dev>`.
        public enum BootDevice: String, ModelledValue {
            case fd, hd, cdrom, network
        }

        /// `hvm` (the only type x86 QEMU guests have).
        public var type: String
        public var arch: String
        public var machine: String?
        /// `<boot dev>` in order.
        public var bootDevices: [BootDevice]
        public var kernel: String?
        /// `<acpi><table type='slic'>`: an ACPI SLIC table's file (`-acpitable sig=SLIC`).
        public var slicTable: String?
        public var initrd: String?
        public var cmdline: String?
        public var loader: Loader?
        /// The variable store's local path: a file (`<nvram>` text, or `type='file'`'s
        /// `<source file>`), or a block device (`type='block'`'s `<source dev>`).
        public var nvram: String?
        /// `<nvram type>` (libvirt 9.0's form, with a `<source>`): what holds the variable store.
        public var nvramType: NVRAMType?
        /// A `type='network'` variable store's source (NBD, iSCSI…, read as a network disk's).
        public var nvramNetwork: Disk.NetworkSource?
        /// `<nvram template>`: the variable store a new `nvram` file is copied from.
        public var nvramTemplate: String?
        /// `<os firmware>`: firmware the daemon picks from the host's descriptors at start.
        public var firmware: Firmware?
        /// `<firmware><feature enabled name>`: what the picked firmware must (`true`) or must not have.
        public var firmwareFeatures: [String: Bool] = [:]
        /// `<smbios mode>`: where the guest's SMBIOS tables come from.
        public var smbiosMode: Sysinfo.Mode?
        /// `<bootmenu enable>`: whether the firmware offers its boot menu.
        public var bootMenu: Bool?
        /// `<bootmenu timeout>`: how long it waits, in milliseconds (0 to 65535).
        public var bootMenuTimeout: Int?
        /// `<bios rebootTimeout>`: milliseconds before a failed boot retries (-1: never, up to 65535).
        public var rebootTimeout: Int?
        /// `<bios useserial>`: the firmware writes to the first serial port.
        public var biosUseSerial: Bool?

        /// `<nvram type>`: libvirt's storage types; the QEMU driver takes a file, a block
        /// device or a network source (``DefinitionChecks``).
        public enum NVRAMType: String, ModelledValue {
            case file, block, dir, network, volume, nvme, vhostuser
        }

        /// Whether the guest has a variable store (of any type).
        public var hasNVRAM: Bool { nvram != nil || nvramNetwork != nil }

        /// Whether the variable store is a file, which the daemon creates from its template
        /// and may remove with the definition.
        public var nvramIsFile: Bool { nvram != nil && (nvramType ?? .file) == .file }

        /// `<os firmware>`.
        public enum Firmware: String, ModelledValue {
            case efi, bios
        }

        /// `<firmware><feature name>`.
        public enum FirmwareFeature: String, ModelledValue {
            case secureBoot = "secure-boot", enrolledKeys = "enrolled-keys"
        }

        static let schema = ElementSchema("os", attributes: ["firmware"], children: [
            .text("type", attributes: ["arch", "machine"]), ElementSchema("boot", attributes: ["dev"]), .text("kernel"), .text("initrd"),
            .text("cmdline"), Loader.schema,
            // libvirt 9.0's `<nvram type><source …/></nvram>` beside the path as text: a file, a
            // block device, or a network source as a network disk's.
            ElementSchema("nvram", attributes: ["template", "type"], children: [
                ElementSchema("source", attributes: ["file", "dev"] + Disk.NetworkSource.schema.attributes, children: Disk.NetworkSource.schema.children),
            ]),
            ElementSchema("firmware", children: [ElementSchema("feature", attributes: ["enabled", "name"])]),
            ElementSchema("smbios", attributes: ["mode"]), ElementSchema("bootmenu", attributes: ["enable", "timeout"]),
            ElementSchema("bios", attributes: ["useserial", "rebootTimeout"]),
            ElementSchema("acpi", children: [.text("table", attributes: ["type"])]),
        ])

        /// `<acpi><table type='slic'>`: the file of a software licensing table the guest's ACPI
        /// tables carry, as libvirt reads it (one table, of type `slic`).
        static func slicTable(_ os: XMLElement) throws(DomainXMLError) -> String? {
            let tables = os.element(named: "acpi")?.elements(named: "table") ?? []
            guard tables.count <= 1 else { throw DomainXMLError(.invalid, line: tables[1].line, "Only one acpi table is supported") }
            guard let table = tables.first else { return nil }
            guard let type = table[attribute: "type"] else { throw DomainXMLError(.invalid, line: table.line, "Missing acpi table type") }
            guard type == "slic" else { throw DomainXMLError(.invalid, line: table.line, "Unknown acpi table type: \(type)") }
            return sanitizedPath(table.text)
        }

        /// A path as libvirt's `virFileSanitizePath` writes it: runs of `/` made one (a leading
        /// `//` kept), no trailing `/`.
        static func sanitizedPath(_ path: String) -> String {
            var result = ""
            var previousSlash = false
            for (index, character) in path.enumerated() {
                if character == "/" && previousSlash && index != 1 { continue }
                result.append(character)
                previousSlash = character == "/"
            }
            while result.count > 1 && result.hasSuffix("/") { result.removeLast() }
            return result
        }

        /// Reads a normalised `<os>` (its type, arch and machine are filled in).
        init(_ element: XMLElement) throws(DomainXMLError) {
            let typeElement = element.element(named: "type")
            type = typeElement?.text ?? "hvm"
            arch = typeElement?[attribute: "arch"] ?? "x86_64"
            machine = typeElement?[attribute: "machine"]
            if let menu = element.element(named: "bootmenu") {
                guard let enable = menu[attribute: "enable"], enable == "yes" || enable == "no" else {
                    throw DomainXMLError(.invalid, line: menu.line, "Invalid value for attribute 'enable' in element 'bootmenu': '\(menu[attribute: "enable"] ?? "")'.")
                }
                bootMenu = enable == "yes"
                if let text = menu[attribute: "timeout"] {
                    guard let timeout = Int(text), (0...65535).contains(timeout) else {
                        throw DomainXMLError(.invalid, line: menu.line, "invalid value for boot menu timeout, must be in range [0,65535]")
                    }
                    bootMenuTimeout = timeout
                }
            }
            if let bios = element.element(named: "bios"), let text = bios[attribute: "useserial"] {
                guard text == "yes" || text == "no" else {
                    throw DomainXMLError(.invalid, line: bios.line, "Invalid value for attribute 'useserial' in element 'bios': '\(text)'.")
                }
                biosUseSerial = text == "yes"
            }
            if let bios = element.element(named: "bios"), let text = bios[attribute: "rebootTimeout"] {
                guard let timeout = Int(text), (-1...65535).contains(timeout) else {
                    throw DomainXMLError(.invalid, line: bios.line, "invalid value for rebootTimeout, must be in range [-1,65535]")
                }
                rebootTimeout = timeout
            }
            var boot: [BootDevice] = []
            for device in element.elements(named: "boot") {
                if let value = try BootDevice.optionalAttribute("dev", of: device) { boot.append(value) }
            }
            bootDevices = boot
            kernel = element.element(named: "kernel")?.text
            initrd = element.element(named: "initrd")?.text
            cmdline = element.element(named: "cmdline")?.text
            slicTable = try Self.slicTable(element)
            loader = try element.element(named: "loader").map { loader throws(DomainXMLError) in try Loader(loader) }
            let nvramElement = element.element(named: "nvram")
            // (The text only of an element without children: around a <source> it is indentation.)
            nvram = nvramElement.flatMap { $0.elements.isEmpty ? $0.text : nil }.flatMap { $0.isEmpty ? nil : $0 }
            nvramType = try NVRAMType.optionalAttribute("type", of: nvramElement)
            if let type = nvramType {
                // That form's path is its source's, never the text (indentation around it).
                nvram = nil
                // libvirt fails such a store without saying why (virDomainLoaderDefParseXMLNvram).
                guard let source = nvramElement?.element(named: "source") else {
                    throw DomainXMLError(.internalError, line: nvramElement?.line, "An error occurred, but the cause is unknown")
                }
                switch type {
                case .file: nvram = source[attribute: "file"].flatMap { $0.isEmpty ? nil : $0 }
                case .block: nvram = source[attribute: "dev"].flatMap { $0.isEmpty ? nil : $0 }
                case .network: nvramNetwork = try Disk.NetworkSource(source)
                case .dir, .volume, .nvme, .vhostuser: break
                }
            }
            nvramTemplate = nvramElement?[attribute: "template"]
            firmware = try Firmware.optionalAttribute("firmware", of: element)
            smbiosMode = try Sysinfo.Mode.optionalAttribute("mode", of: element.element(named: "smbios"))
            for feature in element.element(named: "firmware")?.elements(named: "feature") ?? [] {
                let name = try FirmwareFeature.requiredAttribute("name", of: feature)
                firmwareFeatures[name.rawValue] = try YesNo.requiredAttribute("enabled", of: feature) == .yes
            }
        }

        /// `yes`/`no`.
        enum YesNo: String, ModelledValue {
            case yes, no
        }
    }

    /// `<loader>` (firmware).
    public struct Loader: Hashable, Sendable, ModelledElement {
        /// `<loader type>`.
        public enum Kind: String, ModelledValue {
            case rom, pflash
        }

        public var path: String
        public var readonly: Bool
        public var type: Kind?
        /// `<loader secure>`: the firmware is a Secure Boot build (its flash is protected by SMM).
        public var secure: Bool
        /// `<loader stateless>`: `true`, the firmware keeps no variable store (no `<nvram>`);
        /// `false`, it does (allowed only for EFI and pflash loaders); `nil`, not said.
        public var stateless: Bool?

        static let schema = ElementSchema.text("loader", attributes: ["readonly", "type", "secure", "stateless"])

        public init(path: String, readonly: Bool, type: Kind?, secure: Bool, stateless: Bool? = nil) {
            self.path = path
            self.readonly = readonly
            self.type = type
            self.secure = secure
            self.stateless = stateless
        }

        init(_ element: XMLElement) throws(DomainXMLError) {
            path = element.text
            readonly = element[attribute: "readonly"] == "yes"
            type = try Kind.optionalAttribute("type", of: element)
            secure = element[attribute: "secure"] == "yes"
            stateless = try AttributeValues.yesNo("stateless", of: element)
        }
    }
}

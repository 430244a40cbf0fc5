public import XMLTree

extension DomainDefinition {
    /// `<sysinfo type='smbios'>`: the SMBIOS tables the guest sees (with `<os><smbios mode='sysinfo'>`).
    public struct Sysinfo: Hashable, Sendable, ModelledElement {
        /// `<os><smbios mode>`.
        public enum Mode: String, ModelledValue {
            case emulate, host, sysinfo
        }

        /// A table's fields in QEMU's order, and the names libvirt reads for them.
        public struct Table: Hashable, Sendable {
            /// The SMBIOS type (0 BIOS, 1 system, 2 base board, 3 chassis).
            public var type: Int
            public var fields: [String: String]
            /// The field names the table has, in QEMU's order.
            public var order: [String]

            /// `-smbios`'s value: `type=N,name=value,…` (values escaped by the caller's renderer).
            public var pairs: [(String, String)] { order.compactMap { name in fields[name].map { (name, $0) } } }
        }

        static let layouts: [(element: String, type: Int, names: [String])] = [
            ("bios", 0, ["vendor", "version", "date", "release"]),
            ("system", 1, ["manufacturer", "product", "version", "serial", "uuid", "sku", "family"]),
            ("baseBoard", 2, ["manufacturer", "product", "version", "serial", "asset", "location"]),
            ("chassis", 3, ["manufacturer", "version", "serial", "asset", "sku"]),
        ]

        public var tables: [Table] = []
        /// `<oemStrings><entry>`s (SMBIOS type 11).
        public var oemStrings: [String] = []

        static let schema = ElementSchema("sysinfo", attributes: ["type"], children: layouts.map { table in
            ElementSchema(table.element, children: [.text("entry", attributes: ["name"])])
        } + [ElementSchema("oemStrings", children: [.text("entry")])])

        init(_ element: XMLElement) throws(DomainXMLError) {
            guard element[attribute: "type"] == "smbios" else {
                throw DomainXMLError(.unsupported, line: element.line, "sysinfo type '\(element[attribute: "type"] ?? "")' is not supported (only smbios)")
            }
            for table in Self.layouts {
                let sections = element.elements(named: table.element)
                if table.type == 2 && sections.count > 1 {
                    throw DomainXMLError(.unsupported, line: sections[1].line, "qemu does not support more than one entry to Type 2 in SMBIOS table")
                }
                for section in sections {
                    var fields: [String: String] = [:]
                    for entry in section.elements(named: "entry") {
                        guard let name = entry[attribute: "name"], table.names.contains(name) else {
                            throw DomainXMLError(.invalid, line: entry.line, "unknown \(table.element) entry '\(entry[attribute: "name"] ?? "")'")
                        }
                        fields[name] = entry.text
                    }
                    if table.type == 2 || table.type == 3, fields["manufacturer"] == nil { fields["manufacturer"] = "" }
                    tables.append(Table(type: table.type, fields: fields, order: table.names))
                }
            }
            oemStrings = element.element(named: "oemStrings")?.elements(named: "entry").map(\.text) ?? []
        }

        /// The host's tables (libvirt's `<sysinfo>` of the host) for `<smbios mode='host'>`,
        /// without the host's system UUID, which the guest's must differ from.
        public static func host(_ document: XMLElement) throws(DomainXMLError) -> Sysinfo {
            var sysinfo = try Sysinfo(document)
            for index in sysinfo.tables.indices where sysinfo.tables[index].type == 1 { sysinfo.tables[index].fields["uuid"] = nil }
            return sysinfo
        }

        /// The system table's UUID, which must be the domain's.
        public var systemUUID: String? { tables.first { $0.type == 1 }?.fields["uuid"] }
    }
}

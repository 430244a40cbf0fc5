import CorralProtocol
import DomainXML
import Foundation
import POSIXSupport
import XMLTree

/// `virsh sysinfo`: the host's SMBIOS tables as libvirt's `<sysinfo type='smbios'>`, from
/// `dmidecode -q -t 0,1,2,3,4,11,17` (libvirt's command), parsed by section. A host without
/// tables (or without dmidecode) gets libvirt's refusal.
enum HostSysinfo {
    static let dmidecode = "/usr/sbin/dmidecode"

    /// Each SMBIOS section Corral reports: dmidecode's title, libvirt's element, and the fields
    /// (dmidecode's label, libvirt's entry name) in libvirt's order.
    static let sections: [(title: String, element: String, fields: [(String, String)])] = [
        ("BIOS Information", "bios", [("Vendor", "vendor"), ("Version", "version"), ("Release Date", "date"), ("BIOS Revision", "release")]),
        ("System Information", "system", [
            ("Manufacturer", "manufacturer"), ("Product Name", "product"), ("Version", "version"), ("Serial Number", "serial"), ("UUID", "uuid"),
            ("SKU Number", "sku"), ("Family", "family"),
        ]),
        ("Base Board Information", "baseBoard", [
            ("Manufacturer", "manufacturer"), ("Product Name", "product"), ("Version", "version"), ("Serial Number", "serial"), ("Asset Tag", "asset"),
            ("Location In Chassis", "location"),
        ]),
        ("Chassis Information", "chassis", [
            ("Manufacturer", "manufacturer"), ("Version", "version"), ("Serial Number", "serial"), ("Asset Tag", "asset"), ("SKU Number", "sku"),
        ]),
        ("Processor Information", "processor", [
            ("Socket Designation", "socket_destination"), ("Type", "type"), ("Family", "family"), ("Manufacturer", "manufacturer"),
            ("Signature", "signature"), ("Version", "version"), ("External Clock", "external_clock"), ("Max Speed", "max_speed"), ("Status", "status"),
            ("Serial Number", "serial_number"), ("Part Number", "part_number"),
        ]),
        ("Memory Device", "memory_device", [
            ("Size", "size"), ("Form Factor", "form_factor"), ("Locator", "locator"), ("Bank Locator", "bank_locator"), ("Type", "type"),
            ("Type Detail", "type_detail"), ("Speed", "speed"), ("Manufacturer", "manufacturer"), ("Serial Number", "serial_number"),
            ("Part Number", "part_number"),
        ]),
    ]

    /// dmidecode's output as blocks: a title line, then `\tLabel: value` lines.
    static func blocks(_ output: String) -> [(title: String, fields: [(String, String)])] {
        var blocks: [(String, [(String, String)])] = []
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("Handle ") { continue }
            if !line.hasPrefix("\t") {
                blocks.append((line.trimmingCharacters(in: .whitespaces), []))
            } else if !blocks.isEmpty, let colon = line.firstIndex(of: ":") {
                let label = line[..<colon].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                // Continuation lines (a list under a label) have no value of their own.
                if !value.isEmpty { blocks[blocks.count - 1].1.append((label, value)) }
            }
        }
        return blocks
    }

    /// libvirt's `<sysinfo>` for dmidecode's output, or `nil` when it holds no BIOS section
    /// (libvirt's condition for "not available").
    static func document(dmidecode output: String) -> XMLElement? {
        let blocks = blocks(output)
        guard blocks.contains(where: { $0.title == "BIOS Information" }) else { return nil }
        var children: [XMLNode] = []
        for section in sections {
            for block in blocks where block.title == section.title {
                // A slot without a module is not a memory device (libvirt skips it).
                if section.element == "memory_device", block.fields.first(where: { $0.0 == "Size" })?.1 == "No Module Installed" { continue }
                let entries = section.fields.compactMap { label, name -> XMLNode? in
                    guard let value = block.fields.first(where: { $0.0 == label })?.1 else { return nil }
                    return .element(XMLElement(name: "entry", attributes: [XMLAttribute(name: "name", value: name)], children: [.text(value)]))
                }
                children.append(.element(XMLElement(name: section.element, children: entries)))
                // One BIOS, system and chassis section (the first).
                if ["bios", "system", "chassis"].contains(section.element) { break }
            }
        }
        let strings = blocks.filter { $0.title == "OEM Strings" }.flatMap(\.fields).filter { $0.0.hasPrefix("String ") }.map(\.1)
        if !strings.isEmpty {
            children.append(.element(XMLElement(name: "oemStrings", children: strings.map { .element(XMLElement(name: "entry", children: [.text($0)])) })))
        }
        return XMLElement(name: "sysinfo", attributes: [XMLAttribute(name: "type", value: "smbios")], children: children)
    }

    /// The host's `<sysinfo>` as text, or libvirt's error. Blocking (runs dmidecode).
    static func read() throws(RemoteError) -> String {
        let unavailable = RemoteError(code: .configUnsupported, domain: .qemu, detail: "Host SMBIOS information is not available")
        guard FileManager.default.isExecutableFile(atPath: dmidecode),
            let output = try? ChildProcess.run(dmidecode, ["-q", "-t", "0,1,2,3,4,11,17"], timeout: 30), output.status == 0,
            let document = document(dmidecode: output.standardOutput)
        else { throw unavailable }
        return DomainXMLFormatter.format(document) + "\n"
    }
}

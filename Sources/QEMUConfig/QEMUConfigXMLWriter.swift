import XMLTree

/// Writes configuration-file sections in their XML form.
///
/// A section is an element in the qemu namespace whose local name is the group, with the id in an
/// `id` attribute and one child element per key (local name = key, text = value), in order:
///
/// ```xml
/// <qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
///   <qemu:object id='rng0'>
///     <qom-type>rng-random</qom-type>
///     <filename>/dev/urandom</filename>
///   </qemu:object>
/// </qemu:config>
/// ```
public enum QEMUConfigXMLWriter {
    /// libvirt's QEMU namespace, which Corral's configuration sections share.
    public static let namespace = "http://libvirt.org/schemas/domain/qemu/1.0"

    /// The standalone document: a `<qemu:config>` root holding the sections.
    ///
    /// - Throws: ``QEMUConfigError`` if a group or key is not a valid XML name, or a value or id
    ///   cannot be written to QEMU's file format either.
    public static func document(_ file: QEMUConfigFile) throws(QEMUConfigError) -> String {
        var out = "<qemu:config xmlns:qemu='\(namespace)'>\n"
        try appendSections(file, indent: "  ", to: &out)
        out += "</qemu:config>\n"
        return out
    }

    /// Appends the section elements (prefix `qemu`), each line starting with `indent`; used both
    /// for the standalone document and inside a domain XML.
    public static func appendSections(_ file: QEMUConfigFile, indent: String, to out: inout String) throws(QEMUConfigError) {
        var problems = file.problems(knownGroups: nil)
        out.reserveCapacity(out.utf8.count + file.sections.count * 128)
        for section in file.sections {
            if !XMLName.isValid(section.group) { problems.append("the group '\(section.group)' cannot be an XML element name") }
            out += indent
            out += "<qemu:"
            out += section.group
            if let id = section.id {
                if !XMLTreeWriter.canWrite(id) { problems.append("the id of [\(section.group)] holds a character XML cannot carry") }
                out += " id='"
                out += XMLTreeWriter.escape(id, attribute: true)
                out += "'"
            }
            if section.entries.isEmpty {
                out += "/>\n"
                continue
            }
            out += ">\n"
            for entry in section.entries {
                if !XMLName.isValid(entry.key) { problems.append("the key '\(entry.key)' cannot be an XML element name") }
                out += indent
                out += "  <"
                out += entry.key
                if entry.value.isEmpty {
                    out += "/>\n"
                    continue
                }
                if !XMLTreeWriter.canWrite(entry.value) { problems.append("the value of '\(entry.key)' holds a character XML cannot carry") }
                out += ">"
                out += XMLTreeWriter.escape(entry.value, attribute: false)
                out += "</"
                out += entry.key
                out += ">\n"
            }
            out += indent
            out += "</qemu:"
            out += section.group
            out += ">\n"
        }
        if !problems.isEmpty { throw QEMUConfigError(problems.map { QEMUConfigDiagnostic(line: 0, message: $0) }) }
    }
}

/// XML names as element names need them (no namespace colon).
enum XMLName {
    static func isValid(_ name: String) -> Bool {
        var iterator = name.utf8.makeIterator()
        guard let first = iterator.next() else { return false }
        guard QEMUConfigRules.isLetter(first) || first == UInt8(ascii: "_") || first >= 0x80 else { return false }
        while let b = iterator.next() {
            let ok = QEMUConfigRules.isLetter(b) || (b >= 48 && b <= 57) || b == 45 || b == 46 || b == 95 || b >= 0x80
            if !ok { return false }
        }
        return !name.lowercased().hasPrefix("xml")
    }
}

/// Writes QEMU's canonical configuration-file form (that of the old `-writeconfig`):
///
/// ```
/// # qemu config file
///
/// [group "id"]
///   key = "value"
///
/// ```
///
/// QEMU reads the output back unchanged. Anything the format cannot hold is an error, never
/// silently altered.
public enum QEMUConfigWriter {
    /// The first line of every written file.
    public static let headerComment = "# qemu config file"

    /// Writes `file`.
    ///
    /// - Throws: ``QEMUConfigError`` listing every name or value the format cannot hold.
    public static func write(_ file: QEMUConfigFile) throws(QEMUConfigError) -> String {
        var problems: [String] = []
        var size = 32
        for section in file.sections {
            size += section.group.utf8.count + (section.id?.utf8.count ?? 0) + 8
            for entry in section.entries { size += entry.key.utf8.count + entry.value.utf8.count + 9 }
        }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        out.append(contentsOf: headerComment.utf8)
        out.append(contentsOf: "\n\n".utf8)
        for section in file.sections {
            if let problem = QEMUConfigRules.problem(withName: section.group, kind: "group") { problems.append("\(label(section)): \(problem)") }
            out.append(UInt8(ascii: "["))
            out.append(contentsOf: section.group.utf8)
            if let id = section.id {
                if let problem = QEMUConfigRules.problem(withName: id, kind: "id") { problems.append("\(label(section)): \(problem)") }
                out.append(contentsOf: " \"".utf8)
                out.append(contentsOf: id.utf8)
                out.append(UInt8(ascii: "\""))
            }
            out.append(contentsOf: "]\n".utf8)
            for entry in section.entries {
                if let problem = QEMUConfigRules.problem(withName: entry.key, kind: "key") { problems.append("\(label(section)): \(problem)") }
                out.append(contentsOf: "  ".utf8)
                out.append(contentsOf: entry.key.utf8)
                out.append(contentsOf: " = \"".utf8)
                // Copy the value and check it in one pass: no quote, line break or NUL, ≤ 1023 bytes.
                var bad = false
                var count = 0
                for b in entry.value.utf8 {
                    if b == 34 || b == 10 || b == 13 || b == 0 { bad = true }
                    out.append(b)
                    count += 1
                }
                if bad || count > QEMUConfigRules.maximumValueLength, let problem = QEMUConfigRules.problem(withValue: entry.value) {
                    problems.append("\(label(section)): the value of '\(entry.key)' \(problem)")
                }
                out.append(contentsOf: "\"\n".utf8)
            }
            out.append(UInt8(ascii: "\n"))
        }
        if !problems.isEmpty { throw QEMUConfigError(problems.map { QEMUConfigDiagnostic(line: 0, message: $0) }) }
        return String(decoding: out, as: UTF8.self)
    }

    static func label(_ section: QEMUConfigSection) -> String {
        section.id.map { "[\(section.group) \"\($0)\"]" } ?? "[\(section.group)]"
    }
}

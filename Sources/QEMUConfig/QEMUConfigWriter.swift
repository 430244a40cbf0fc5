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
        var out: [UInt8] = []
        out.reserveCapacity(file.sections.count * 96 + 32)
        out.append(contentsOf: headerComment.utf8)
        out.append(UInt8(ascii: "\n"))
        out.append(UInt8(ascii: "\n"))
        for section in file.sections {
            let label = section.id.map { "[\(section.group) \"\($0)\"]" } ?? "[\(section.group)]"
            if let problem = QEMUConfigRules.problem(withName: section.group, kind: "group") { problems.append("\(label): \(problem)") }
            out.append(UInt8(ascii: "["))
            out.append(contentsOf: section.group.utf8)
            if let id = section.id {
                if let problem = QEMUConfigRules.problem(withName: id, kind: "id") { problems.append("\(label): \(problem)") }
                out.append(contentsOf: " \"".utf8)
                out.append(contentsOf: id.utf8)
                out.append(UInt8(ascii: "\""))
            }
            out.append(contentsOf: "]\n".utf8)
            for entry in section.entries {
                if let problem = QEMUConfigRules.problem(withName: entry.key, kind: "key") { problems.append("\(label): \(problem)") }
                if let problem = QEMUConfigRules.problem(withValue: entry.value) {
                    problems.append("\(label): the value of '\(entry.key)' \(problem)")
                }
                out.append(contentsOf: "  ".utf8)
                out.append(contentsOf: entry.key.utf8)
                out.append(contentsOf: " = \"".utf8)
                out.append(contentsOf: entry.value.utf8)
                out.append(contentsOf: "\"\n".utf8)
            }
            out.append(UInt8(ascii: "\n"))
        }
        if !problems.isEmpty { throw QEMUConfigError(problems.map { QEMUConfigDiagnostic(line: 0, message: $0) }) }
        return String(decoding: out, as: UTF8.self)
    }
}

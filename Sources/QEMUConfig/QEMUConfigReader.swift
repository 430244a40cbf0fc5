#if canImport(Glibc)
import Glibc
#endif

/// Reads QEMU's configuration-file format exactly as QEMU's parser does (`qemu_config_foreach`),
/// and refuses, with the line and a clear message, both what QEMU would reject and what it would
/// silently misread (an unquoted value read as empty, an indented comment read as a key, …).
public struct QEMUConfigReader: Sendable {
    /// The groups the emulator accepts; `nil` skips that check.
    public var knownGroups: Set<String>?

    /// Creates a reader. By default it knows QEMU 7.2's groups; pass the probed emulator's.
    public init(knownGroups: Set<String>? = QEMUConfigRules.qemu72Groups) {
        self.knownGroups = knownGroups
    }

    /// Reads `text`, failing on any error-severity problem.
    ///
    /// - Throws: ``QEMUConfigError`` with every diagnostic (warnings included) when any is an error.
    public func read(_ text: String) throws(QEMUConfigError) -> QEMUConfigFile {
        let (file, diagnostics) = check(text)
        if diagnostics.contains(where: { $0.severity == .error }) { throw QEMUConfigError(diagnostics) }
        return file
    }

    /// Reads `text` and reports every problem; the file holds whatever could be read.
    public func check(_ text: String) -> (file: QEMUConfigFile, diagnostics: [QEMUConfigDiagnostic]) {
        var text = text
        return text.withUTF8 { bytes in
            var parser = LineParser(bytes: bytes, knownGroups: knownGroups)
            parser.run()
            return (QEMUConfigFile(sections: parser.sections), parser.diagnostics)
        }
    }
}

private let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), cr = UInt8(ascii: "\r"), newline = UInt8(ascii: "\n")
private let quote = UInt8(ascii: "\""), hash = UInt8(ascii: "#"), equals = UInt8(ascii: "="), open = UInt8(ascii: "["), close = UInt8(ascii: "]")

@inline(__always) private func isBlank(_ b: UInt8) -> Bool { b == space || b == tab || b == cr }

/// The line-by-line state of one read.
private struct LineParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let knownGroups: Set<String>?
    var sections: [QEMUConfigSection] = []
    var diagnostics: [QEMUConfigDiagnostic] = []
    var line = 0

    init(bytes: UnsafeBufferPointer<UInt8>, knownGroups: Set<String>?) {
        self.bytes = bytes
        self.knownGroups = knownGroups
    }

    mutating func error(_ message: String) { diagnostics.append(.init(line: line, severity: .error, message: message)) }
    mutating func warning(_ message: String) { diagnostics.append(.init(line: line, severity: .warning, message: message)) }

    func string(_ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self)
    }

    mutating func run() {
        guard let base = bytes.baseAddress else { return }
        var start = 0
        let count = bytes.count
        while start < count {
            let end = memchr(base + start, Int32(newline), count - start).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - base } ?? count
            line += 1
            parseLine(start, end)
            start = end + 1
        }
    }

    mutating func parseLine(_ start: Int, _ end: Int) {
        if end - start > QEMUConfigRules.maximumLineLength {
            error("the line is \(end - start) characters long; QEMU reads at most \(QEMUConfigRules.maximumLineLength) and would split it")
            return
        }
        if start == end { return }
        let first = bytes[start]
        if first == hash { return }
        if memchr(bytes.baseAddress! + start, 0, end - start) != nil {
            error("the line contains a NUL byte")
            return
        }
        var i = start
        while i < end && isBlank(bytes[i]) { i += 1 }
        if i == end {
            if bytes[start..<end].contains(cr) {
                error("a blank line with a carriage return (CRLF line endings); QEMU reports a parse error: use LF line endings")
            } else {
                error("the line holds only spaces or tabs; QEMU reports a parse error: leave blank lines empty")
            }
            return
        }
        if first == open {
            parseHeader(start + 1, end)
            return
        }
        if bytes[i] == hash {
            error("a comment must start in the first column; QEMU reads an indented '#' as a key (Invalid parameter '#')")
            return
        }
        if bytes[i] == UInt8(ascii: ";") {
            error("';' does not start a comment in QEMU's format; only '#' in the first column does")
            return
        }
        parseEntry(i, end)
    }

    mutating func parseHeader(_ from: Int, _ end: Int) {
        var i = from
        while i < end && !isBlank(bytes[i]) && bytes[i] != close && bytes[i] != quote { i += 1 }
        let group = string(from, i)
        var id: String?
        if group.isEmpty {
            let inside = string(from, bytes[from..<end].firstIndex(of: close) ?? end)
            error(inside.isEmpty
                ? "the section header has no group name"
                : "the section header has spaces inside the brackets; QEMU would look for a group named '\(inside)'")
            return
        }
        if i == end {
            error("the section header '[\(group)' has no closing ']'")
            return
        }
        if bytes[i] == quote {
            error("the section header needs a space between the group and the quoted id: [\(group) \"…\"]")
            return
        }
        if isBlank(bytes[i]) {
            while i < end && isBlank(bytes[i]) { i += 1 }
            guard i < end, bytes[i] == quote else {
                error("malformed section header: expected [group] or [group \"id\"]; QEMU would look for a group named '\(string(from, min(end, (bytes[from..<end].firstIndex(of: close) ?? end))))'")
                return
            }
            let idStart = i + 1
            i = idStart
            while i < end && bytes[i] != quote { i += 1 }
            guard i < end else {
                error("the section id has no closing double quote")
                return
            }
            id = string(idStart, i)
            i += 1
            if i < end && bytes[i] == close {
                i += 1
            } else {
                warning("the section header has no ']' after the id; QEMU does not check it, but it is malformed")
            }
        } else {
            i += 1  // the ']'
        }
        trailing(i, end, after: "']'")
        for problem in QEMUConfigRules.problems(group: group, id: id, knownGroups: knownGroups) { error(problem) }
        sections.append(QEMUConfigSection(group: group, id: id))
    }

    mutating func parseEntry(_ from: Int, _ end: Int) {
        var i = from
        while i < end && !isBlank(bytes[i]) && bytes[i] != equals { i += 1 }
        let key = string(from, i)
        if key.isEmpty {
            error("a line starting with '=' has no key")
            return
        }
        if i < end && bytes[i] == equals {
            error("there must be a space between the key and '='; QEMU reads '\(string(from, min(end, i + 20)))' as the key (Invalid parameter)")
            return
        }
        while i < end && isBlank(bytes[i]) { i += 1 }
        guard i < end, bytes[i] == equals else {
            error("expected '= \"value\"' after the key '\(key)'")
            return
        }
        i += 1
        while i < end && isBlank(bytes[i]) { i += 1 }
        guard i < end, bytes[i] == quote else {
            let shown = string(i, end)
            error(shown.isEmpty
                ? "the key '\(key)' has no value; write \(key) = \"\" for an empty one"
                : "the value of '\(key)' must be in double quotes; QEMU would silently read \(shown) as an empty value")
            return
        }
        let valueStart = i + 1
        i = valueStart
        while i < end && bytes[i] != quote { i += 1 }
        guard i < end else {
            error("the value of '\(key)' has no closing double quote; QEMU would read the line break into the value")
            return
        }
        let valueEnd = i
        trailing(i + 1, end, after: "the closing quote")
        if key.utf8.count > QEMUConfigRules.maximumNameLength {
            error("the key '\(key)' is longer than QEMU's \(QEMUConfigRules.maximumNameLength)-byte limit")
        }
        if valueEnd - valueStart > QEMUConfigRules.maximumValueLength {
            error("the value of '\(key)' is longer than QEMU's \(QEMUConfigRules.maximumValueLength)-byte limit")
        }
        guard !sections.isEmpty else {
            error("no group defined: the key '\(key)' comes before any [group] header")
            return
        }
        let entry = QEMUConfigEntry(key: key, value: string(valueStart, valueEnd))
        let last = sections.count - 1
        if sections[last].entries.contains(where: { $0.key == key }) {
            warning("the key '\(key)' repeats in this section; QEMU keeps only the last value")
        }
        sections[last].entries.append(entry)
    }

    /// Text after a header or value: blanks and a `#` comment are fine; anything else QEMU
    /// silently ignores, which is an error here (`key = "a\"b"` would be read as `a\`).
    mutating func trailing(_ from: Int, _ end: Int, after what: String) {
        var i = from
        while i < end && isBlank(bytes[i]) { i += 1 }
        if i < end && bytes[i] != hash {
            error("QEMU would silently ignore the text after \(what): '\(string(i, end))' (there are no escapes; a value cannot hold a double quote)")
        }
    }
}

/// One `name = value` setting of a libvirt-style configuration file, with its line.
public struct ConfigFileEntry: Sendable, Hashable {
    /// A value as the file writes it: libvirt's `virConf` types.
    public enum Value: Sendable, Hashable {
        /// `"text"` or `'text'` (no escapes, as in libvirt).
        case string(String)
        /// A whole number, optionally signed.
        case integer(Int64)
        /// `[ "a", "b" ]`, over several lines if need be.
        case list([Value])
    }

    /// The setting's name.
    public var name: String
    /// Its value.
    public var value: Value
    /// The line (from 1) where the setting starts.
    public var line: Int
}

/// A configuration file could not be read; the message names the line.
public struct ConfigFileError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The file, as given.
    public var file: String
    /// The line (from 1) at fault, or 0 when the file as a whole is.
    public var line: Int
    /// What is wrong.
    public var reason: String

    public var description: String { line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)" }

    /// An error at `line` (0 for the file as a whole).
    public init(file: String, line: Int, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }
}

/// Parses libvirt's configuration file syntax (`libvirtd.conf`, `qemu.conf`): `name = value`
/// lines, `#` comments, strings in double or single quotes (or `"""` over several lines), signed
/// integers, and lists of values in brackets. A pure function of the text.
public enum ConfigFileSyntax {
    /// The largest file accepted: a configuration file is small, so more is a mistake.
    public static let maximumLength = 1 << 20

    /// Parses `text`; `file` only names the file in errors.
    public static func parse(_ text: String, file: String) throws(ConfigFileError) -> [ConfigFileEntry] {
        let bytes = Array(text.utf8)
        guard bytes.count <= maximumLength else { throw ConfigFileError(file: file, line: 0, reason: "larger than \(maximumLength) bytes") }
        var parser = Parser(bytes: bytes, file: file)
        return try parser.entries()
    }

    private struct Parser {
        let bytes: [UInt8]
        let file: String
        var index = 0
        var line = 1

        init(bytes: [UInt8], file: String) {
            self.bytes = bytes
            self.file = file
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        func error(_ reason: String) -> ConfigFileError { ConfigFileError(file: file, line: line, reason: reason) }

        mutating func advance() {
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            index += 1
        }

        /// Skips spaces and tabs (and, when `newlines`, line ends and comments).
        mutating func skipBlanks(newlines: Bool) {
            while let byte = current {
                if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                    advance()
                } else if newlines && byte == UInt8(ascii: "\n") {
                    advance()
                } else if newlines && byte == UInt8(ascii: "#") {
                    skipComment()
                } else {
                    return
                }
            }
        }

        mutating func skipComment() {
            while let byte = current, byte != UInt8(ascii: "\n") { advance() }
        }

        mutating func entries() throws(ConfigFileError) -> [ConfigFileEntry] {
            var result: [ConfigFileEntry] = []
            while true {
                skipBlanks(newlines: true)
                guard current != nil else { return result }
                let start = line
                let name = try parseName()
                skipBlanks(newlines: false)
                guard current == UInt8(ascii: "=") else { throw error("expected '=' after '\(name)'") }
                advance()
                skipBlanks(newlines: false)
                let value = try parseValue()
                result.append(ConfigFileEntry(name: name, value: value, line: start))
                // The setting ends with a line end, a comment, a ';' or the end of the file.
                skipBlanks(newlines: false)
                switch current {
                case nil: return result
                case UInt8(ascii: "\n"): advance()
                case UInt8(ascii: "#"): skipComment()
                case UInt8(ascii: ";"): advance()
                default: throw error("expected the end of the line after the value of '\(name)'")
                }
            }
        }

        mutating func parseName() throws(ConfigFileError) -> String {
            let start = index
            guard let first = current, Self.isLetter(first) || first == UInt8(ascii: "_") else {
                throw error("expected a setting name")
            }
            advance()
            while let byte = current, Self.isLetter(byte) || Self.isDigit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") {
                advance()
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        mutating func parseValue() throws(ConfigFileError) -> ConfigFileEntry.Value {
            guard let byte = current else { throw error("expected a value") }
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                return .string(try parseString(quote: byte))
            case UInt8(ascii: "["):
                return .list(try parseList())
            case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .integer(try parseInteger())
            default:
                throw error("expected a value: a quoted string, a number or a list in brackets")
            }
        }

        mutating func parseString(quote: UInt8) throws(ConfigFileError) -> String {
            let startLine = line
            let triple = quote == UInt8(ascii: "\"") && index + 2 < bytes.count
                && bytes[index + 1] == quote && bytes[index + 2] == quote
            index += triple ? 3 : 1
            let start = index
            while let byte = current {
                if triple {
                    if byte == quote && index + 2 < bytes.count && bytes[index + 1] == quote && bytes[index + 2] == quote {
                        let text = String(decoding: bytes[start..<index], as: UTF8.self)
                        index += 3
                        return text
                    }
                } else if byte == quote {
                    let text = String(decoding: bytes[start..<index], as: UTF8.self)
                    advance()
                    return text
                } else if byte == UInt8(ascii: "\n") {
                    throw error("unterminated string")
                }
                advance()
            }
            throw ConfigFileError(file: file, line: startLine, reason: "unterminated string")
        }

        mutating func parseInteger() throws(ConfigFileError) -> Int64 {
            var negative = false
            if current == UInt8(ascii: "-") || current == UInt8(ascii: "+") {
                negative = current == UInt8(ascii: "-")
                advance()
            }
            guard let first = current, Self.isDigit(first) else { throw error("expected digits") }
            var magnitude: UInt64 = 0
            while let byte = current, Self.isDigit(byte) {
                let (times, overflowTimes) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflowSum) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                guard !overflowTimes, !overflowSum, sum <= UInt64(Int64.max) else { throw error("number out of range") }
                magnitude = sum
                advance()
            }
            return negative ? -Int64(magnitude) : Int64(magnitude)
        }

        mutating func parseList() throws(ConfigFileError) -> [ConfigFileEntry.Value] {
            advance()  // '['
            var values: [ConfigFileEntry.Value] = []
            while true {
                skipBlanks(newlines: true)
                guard let byte = current else { throw error("unterminated list") }
                if byte == UInt8(ascii: "]") {
                    advance()
                    return values
                }
                if !values.isEmpty {
                    guard byte == UInt8(ascii: ",") else { throw error("expected ',' or ']' in a list") }
                    advance()
                    skipBlanks(newlines: true)
                    // libvirt allows a comma after the last item.
                    if current == UInt8(ascii: "]") {
                        advance()
                        return values
                    }
                }
                guard values.count < 4096 else { throw error("a list of more than 4096 items") }
                guard current != UInt8(ascii: "[") else { throw error("lists cannot be nested") }
                values.append(try parseValue())
            }
        }

        static func isLetter(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
        }

        static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
    }
}

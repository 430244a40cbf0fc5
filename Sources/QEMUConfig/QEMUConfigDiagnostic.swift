/// A problem found in a configuration file or its XML form.
public struct QEMUConfigDiagnostic: Hashable, Sendable, CustomStringConvertible {
    /// How bad it is.
    public enum Severity: String, Hashable, Sendable {
        /// QEMU would reject the file, or silently read something other than what is written.
        case error
        /// QEMU reads the file, but ignores part of it; probably not what was meant.
        case warning
    }

    /// The 1-based line.
    public var line: Int
    /// How bad it is.
    public var severity: Severity
    /// What is wrong, in words a person can act on.
    public var message: String

    /// Creates a diagnostic.
    public init(line: Int, severity: Severity = .error, message: String) {
        self.line = line
        self.severity = severity
        self.message = message
    }

    public var description: String { "line \(line): \(severity.rawValue): \(message)" }
}

/// A configuration file or XML form that cannot be used: every error found, with its line.
public struct QEMUConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The problems, in line order (errors and warnings alike).
    public var diagnostics: [QEMUConfigDiagnostic]

    /// Creates an error from its diagnostics.
    public init(_ diagnostics: [QEMUConfigDiagnostic]) {
        self.diagnostics = diagnostics
    }

    /// An error with one message and no line (for writing a value model that cannot be written).
    public init(message: String) {
        self.diagnostics = [QEMUConfigDiagnostic(line: 0, message: message)]
    }

    public var description: String {
        diagnostics.map { $0.line > 0 ? $0.description : $0.message }.joined(separator: "\n")
    }
}

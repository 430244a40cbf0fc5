/// An error from a QMP session: QEMU's own error reply, or a failure of the session itself.
public struct QMPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case commandFailed, connectionFailed, connectionClosed, protocolViolation, timeout }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// QEMU answered with `{"error": {"class", "desc"}}`.
        public static var commandFailed: Self { .init(.commandFailed) }
        /// The monitor socket could not be reached.
        public static var connectionFailed: Self { .init(.connectionFailed) }
        /// The monitor closed (QEMU exited) before the reply.
        public static var connectionClosed: Self { .init(.connectionClosed) }
        /// The peer sent something that is not QMP (garbage, a message too large or too deep).
        public static var protocolViolation: Self { .init(.protocolViolation) }
        /// No answer in time.
        public static var timeout: Self { .init(.timeout) }
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// QMP's error class (`GenericError`, `CommandNotFound`, …) for a failed command.
    public var errorClass: String?
    /// QEMU's description, or what went wrong.
    public var message: String

    /// Creates an error.
    public init(code: Code, errorClass: String? = nil, message: String) {
        self.code = code
        self.errorClass = errorClass
        self.message = message
    }

    public var description: String { errorClass.map { "\($0): \(message)" } ?? message }
}

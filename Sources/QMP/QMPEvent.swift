public import CorralJSON
/// An asynchronous QMP event (`{"event": NAME, "data": {…}, "timestamp": {…}}`).
public struct QMPEvent: Sendable, Hashable {
    /// The event name (`STOP`, `RESUME`, `SHUTDOWN`, …).
    public var name: String
    /// The event's data (an empty object when absent).
    public var data: JSONValue
    /// Seconds of the timestamp.
    public var seconds: Int64
    /// Microseconds of the timestamp.
    public var microseconds: Int64
    /// The whole message as QEMU sent it.
    public var raw: JSONValue

    /// Reads an event message; `nil` if `message` is not one.
    public init?(message: JSONValue) {
        guard let name = message["event"]?.stringValue else { return nil }
        self.name = name
        self.data = message["data"] ?? .object([])
        self.seconds = message["timestamp"]?["seconds"]?.intValue ?? 0
        self.microseconds = message["timestamp"]?["microseconds"]?.intValue ?? 0
        self.raw = message
    }
}

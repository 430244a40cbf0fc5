public import CorralJSON

/// Something that carries QMP messages to one QEMU: a direct monitor socket (``QMPClient``) or
/// the daemon's passthrough (`CorralQEMU`'s `DaemonQMPTransport`). The typed commands are written
/// once, on this protocol, and run over either.
public protocol QMPTransport: Sendable {
    /// Sends a whole QMP message and returns QEMU's whole reply (error replies included).
    func executeRaw(_ message: JSONValue) async throws(QMPError) -> JSONValue
}

extension QMPClient: QMPTransport {}

extension QMPTransport {
    /// Runs `command`; returns its `return` value; QEMU's error reply throws ``QMPError`` with
    /// its class and description.
    public func run(_ command: String, arguments: JSONValue? = nil) async throws(QMPError) -> JSONValue {
        var members: [(String, JSONValue)] = [("execute", .string(command))]
        if let arguments { members.append(("arguments", arguments)) }
        let reply = try await executeRaw(.object(members))
        if let error = reply["error"] {
            throw QMPError(code: .commandFailed, errorClass: error["class"]?.stringValue, message: error["desc"]?.stringValue ?? "")
        }
        return reply["return"] ?? .object([])
    }

    /// `query-status`.
    public func status() async throws(QMPError) -> QMPStatus {
        let value = try await run("query-status")
        return QMPStatus(running: value["running"]?.boolValue ?? false, status: value["status"]?.stringValue ?? "")
    }

    /// `query-version`, encoded as libvirt does.
    public func version() async throws(QMPError) -> UInt64 {
        QMPVersionNumber.encode(try await run("query-version"))
    }

    /// `query-cpus-fast`: the vCPU indexes.
    public func cpuIndexes() async throws(QMPError) -> [Int64] {
        (try await run("query-cpus-fast")).arrayValue?.compactMap { $0["cpu-index"]?.intValue } ?? []
    }

    /// `query-block`: the block devices' names.
    public func blockDevices() async throws(QMPError) -> [String] {
        (try await run("query-block")).arrayValue?.compactMap { $0["device"]?.stringValue } ?? []
    }

    /// `query-pci`: the devices on PCI bus 0, as their QOM paths or class descriptions.
    public func pciDevices() async throws(QMPError) -> [String] {
        let buses = try await run("query-pci").arrayValue ?? []
        return buses.flatMap { $0["devices"]?.arrayValue ?? [] }.compactMap { $0["qdev_id"]?.stringValue ?? $0["class_info"]?["desc"]?.stringValue }
    }

    /// `stop`.
    public func pause() async throws(QMPError) { _ = try await run("stop") }
    /// `cont`.
    public func continueRunning() async throws(QMPError) { _ = try await run("cont") }
    /// `system_powerdown`.
    public func powerdown() async throws(QMPError) { _ = try await run("system_powerdown") }
    /// `system_reset`.
    public func resetSystem() async throws(QMPError) { _ = try await run("system_reset") }

    /// `qom-list`: the names of the properties or children at `path`.
    public func qomList(_ path: String) async throws(QMPError) -> [String] {
        (try await run("qom-list", arguments: .object([("path", .string(path))]))).arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
    }

    /// `qom-get`.
    public func qomGet(_ path: String, _ property: String) async throws(QMPError) -> JSONValue {
        try await run("qom-get", arguments: .object([("path", .string(path)), ("property", .string(property))]))
    }

    /// `qom-set`.
    public func qomSet(_ path: String, _ property: String, _ value: JSONValue) async throws(QMPError) {
        _ = try await run("qom-set", arguments: .object([("path", .string(path)), ("property", .string(property)), ("value", value)]))
    }

    /// `device_add` with the given properties (`driver` and `id` among them).
    public func deviceAdd(_ properties: [(String, JSONValue)]) async throws(QMPError) { _ = try await run("device_add", arguments: .object(properties)) }

    /// `device_del`.
    public func deviceDel(_ id: String) async throws(QMPError) { _ = try await run("device_del", arguments: .object([("id", .string(id))])) }

    /// `human-monitor-command`.
    public func hmp(_ commandLine: String) async throws(QMPError) -> String {
        (try await run("human-monitor-command", arguments: .object([("command-line", .string(commandLine))]))).stringValue ?? ""
    }
}

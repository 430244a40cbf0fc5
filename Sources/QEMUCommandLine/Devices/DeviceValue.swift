import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// A `-device` value from its members (`null` members dropped): JSON when the emulator takes
    /// it (``QEMUCapability/deviceJSON``), key=value otherwise.
    func deviceValue(_ members: [(String, JSONValue)]) -> QEMUOptionValue {
        var members = members
        members.removeAll { if case .null = $0.1 { return true } else { return false } }
        return capabilities.contains(.deviceJSON) ? .json(.object(members)) : .text(Self.keyValue(members))
    }

    /// Adds a `-device` option.
    mutating func addDevice(_ members: [(String, JSONValue)]) {
        add("-device", deviceValue(members))
    }

    /// The `key=value,…` form of a device, for emulators without JSON `-device`.
    static func keyValue(_ members: [(String, JSONValue)]) -> String {
        members.map { key, value -> String in
            let text: String
            switch value {
            case .string(let s): text = QEMUKeyValue.escape(s)
            case .bool(let b): text = b ? "on" : "off"
            case .number(let n): text = n.text
            default: text = value.description
            }
            return key == "driver" ? text : "\(key)=\(text)"
        }.joined(separator: ",")
    }
}

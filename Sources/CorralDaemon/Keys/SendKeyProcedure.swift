import CorralJSON
import CorralProtocol
import QMP
import XDR

/// The codesets of `virDomainSendKey` (`virKeycodeSet`), in libvirt's order.
enum KeyCodeset: UInt32, CaseIterable {
    case linux, xt, atset1, atset2, atset3, osx, xtKeyboard, usb, win32, qnum

    /// libvirt's name, for messages.
    var name: String {
        switch self {
        case .linux: "linux"
        case .xt: "xt"
        case .atset1: "atset1"
        case .atset2: "atset2"
        case .atset3: "atset3"
        case .osx: "os_x"
        case .xtKeyboard: "xt_kbd"
        case .usb: "usb"
        case .win32: "win32"
        case .qnum: "qnum"
        }
    }

    /// QEMU's name of the key `code` of this codeset, from keycodemapdb's table.
    func qcode(for code: UInt32) -> String? {
        guard let value = Int32(exactly: code) else { return nil }
        let column = Int(rawValue)
        return KeycodeTable.keys.first { $0.codes[column] == value }?.qcode
    }
}

/// `virsh send-key`: keys pressed together, held `holdtime` ms, through QMP `send-key`.
enum SendKeyProcedure {
    /// `VIR_DOMAIN_SEND_KEY_MAX_KEYS`.
    static let maximumKeys = 16

    static func register(in table: inout ProcedureTable, registry: DomainRegistry, jobs: DomainJobs) {
        table.registerAsync(Remote.DomainSendKey.self) { arguments, _ throws(RemoteError) in
            guard !arguments.keycodes.isEmpty else { throw RemoteError.invalidArgument("nkeycodes in virDomainSendKey must be greater than zero", domain: .domain) }
            guard let codeset = KeyCodeset(rawValue: arguments.codeset) else {
                throw RemoteError(code: .invalidArgument, domain: .domain, detail: "Unsupported codeset '\(Int32(bitPattern: arguments.codeset))'")
            }
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainSendKey")
            var keys: [JSONValue] = []
            for code in arguments.keycodes {
                guard let qcode = codeset.qcode(for: code) else {
                    throw RemoteError(code: .internalError, domain: .qemu, detail: "cannot translate keycode \(code) of \(codeset.name) codeset to qnum keycode")
                }
                keys.append(.object([("type", .string("qcode")), ("data", .string(qcode))]))
            }
            let record = try registry.record(for: arguments.dom)
            try await jobs.run(record.name, "remoteDispatchDomainSendKey") { () async throws(RemoteError) in
                guard let guest = registry.record(uuid: record.uuid)?.runtime else {
                    throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain is not running")
                }
                var command: [(String, JSONValue)] = [("keys", .array(keys))]
                if arguments.holdtime > 0 { command.append(("hold-time", .unsigned(UInt64(arguments.holdtime)))) }
                do throws(QMPError) {
                    _ = try await guest.qmp.execute("send-key", arguments: .object(command))
                } catch {
                    throw GuestStatistics.monitorFailure(error)
                }
            }
            return XDRVoid()
        }
    }
}

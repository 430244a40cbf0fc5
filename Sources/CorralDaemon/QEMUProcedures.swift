import CorralProtocol

/// Handlers of the QEMU program (libvirt-qemu): monitor passthrough.
enum QEMUProcedures {
    static func register(in table: inout ProcedureTable, driver: DomainDriver, registry: DomainRegistry) {
        table.registerAsync(Qemu.DomainMonitorCommand.self) { arguments, _ throws(RemoteError) in
            // VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP = 1
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1, function: "qemuDomainQemuMonitorCommand")
            let record = try registry.record(for: arguments.dom)
            let result = try await driver.monitorCommand(record.uuid, command: arguments.cmd, hmp: arguments.flags & 1 != 0)
            return .init(result: result)
        }
    }
}

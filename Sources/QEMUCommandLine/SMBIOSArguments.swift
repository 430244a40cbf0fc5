import DomainXML

extension Builder {
    /// `-smbios type=N,…` for each SMBIOS table, from `<sysinfo>` (`<smbios mode='sysinfo'>`)
    /// or the host's tables (`mode='host'`, which the daemon puts in ``DomainDefinition/sysinfo``
    /// without the host's UUID).
    mutating func addSMBIOS() throws(CommandLineError) {
        switch domain.os.smbiosMode {
        case nil, .emulate?: return
        case .host?, .sysinfo?: break
        }
        guard let sysinfo = domain.sysinfo else {
            throw CommandLineError(.unsupported, domain.os.smbiosMode == .host ? "Host SMBIOS information is not available" : "Domain '\(domain.name)' sysinfo are not available")
        }
        for table in sysinfo.tables {
            add("-smbios", QEMUKeyValue.render([("type", String(table.type))] + table.pairs))
        }
        if !sysinfo.oemStrings.isEmpty {
            add("-smbios", QEMUKeyValue.render([("type", "11")] + sysinfo.oemStrings.map { ("value", $0) }))
        }
    }
}

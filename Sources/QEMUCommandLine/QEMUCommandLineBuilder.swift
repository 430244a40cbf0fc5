import CorralJSON
public import DomainXML
import QEMUConfig
import QEMUProbe

/// Turns a domain definition into QEMU's argv and environment, in libvirt's order, with the
/// qemu namespace applied: `-compat` right after `-name`; device overrides in the `-device`
/// JSON; configuration sections with `-readconfig`; extra arguments after the generated devices
/// and before `-sandbox`, which panic, shared memory, vsock and crypto devices follow (as in
/// libvirt's `qemuBuildCommandLine`); alteration rules on the generated options; `qemu:env` after the
/// generated environment.
public enum QEMUCommandLineBuilder {
    /// Builds the invocation.
    ///
    /// - Throws: ``CommandLineError`` for what cannot be run (unsupported devices, KVM without
    ///   KVM, passthrough rules that match nothing).
    public static func build(_ domain: DomainDefinition, context: CommandLineContext) throws(CommandLineError) -> QEMUInvocation {
        do throws(DomainXMLError) {
            try DefinitionChecks.check(domain, spiceTLS: context.spiceTLSDirectory != nil)
        } catch {
            throw CommandLineError(.unsupported, error.message)
        }
        // Corral's only security model is none: a label of another is refused, as libvirt
        // refuses a model it has no driver for (virSecurityManagerCheckModel).
        let deviceModels = domain.devices.disks.flatMap(\.securityLabelModels)
            + (domain.devices.serials + domain.devices.parallels + domain.devices.consoles + domain.devices.channels).flatMap(\.securityLabelModels)
        let hostModel = DomainDefinition.SecurityLabel.hostModel
        if let model = (domain.securityLabels.map(\.model) + deviceModels).first(where: { $0 != hostModel }) {
            throw CommandLineError(.unsupported, "Security driver model '\(model)' is not available")
        }
        var builder = Builder(domain: domain, context: context)
        try builder.build()
        return builder.invocation()
    }
}

struct Builder {
    let domain: DomainDefinition
    let context: CommandLineContext
    var options: [QEMUOption] = []
    /// The options libvirt puts after the extra arguments and `-sandbox`
    /// (``addDevicesAfterSandbox()``); overrides and alteration rules apply to them too.
    var trailingOptions: [QEMUOption] = []
    var capabilities: Set<QEMUCapability>
    var bootIndexes: BootIndexAssigner
    /// Every device's QEMU names.
    let devices: GuestDevices
    /// Whether the options are for a device plugged into a running guest.
    let forHotplug: Bool
    /// Secrets QEMU reads from files (``addSecret(id:value:)``).
    var secretFiles: [QEMUSecretFile] = []

    /// A builder for `domain`; `devices` are the names a running guest's devices already have
    /// (hotplug), else they are decided from the definition.
    init(domain: DomainDefinition, context: CommandLineContext, devices: GuestDevices? = nil) {
        self.domain = domain
        self.context = context
        var names = devices ?? GuestDevices(domain, runDirectory: context.runDirectory)
        for (index, connection) in context.interfaceConnections where names.interfaces.indices.contains(index) {
            names.interfaces[index].connection = connection
        }
        self.devices = names
        self.forHotplug = devices != nil
        self.capabilities = context.capabilities
        // A hot-plugged device boots only by its own <boot order>.
        self.bootIndexes = BootIndexAssigner(order: devices == nil ? domain.os.bootDevices : [])
    }

    mutating func add(_ name: String, _ value: String? = nil) { options.append(QEMUOption(name, value)) }
    mutating func add(_ name: String, _ value: QEMUOptionValue) { options.append(QEMUOption(name: name, argument: value)) }
    mutating func add(_ name: String, json: JSONValue) { options.append(QEMUOption(name, json: json)) }

    mutating func build() throws(CommandLineError) {
        try applyCapabilityOverrides()
        if let partition = domain.resourcePartition, partition != "/machine" {
            throw CommandLineError(.unsupported, "resource partition '\(partition)' is not supported: Corral places each guest in its own control group")
        }
        if domain.type == .kvm && !context.kvmUsable {
            throw CommandLineError(.unsupported, "Domain requires KVM, but it is not available. Check that virtualization is enabled in the host BIOS, and host configuration is setup to load the kvm modules.")
        }
        add("-name", QEMUKeyValue.render([("guest", domain.name), ("debug-threads", "on")]))
        if let behavior = domain.qemu.deprecationBehavior, behavior != "none", capabilities.contains(.compatDeprecated) {
            let compat: String
            switch behavior {
            case "omit": compat = #"{"deprecated-output":"hide"}"#
            case "reject": compat = #"{"deprecated-output":"hide","deprecated-input":"reject"}"#
            case "crash": compat = #"{"deprecated-output":"hide","deprecated-input":"crash"}"#
            default: compat = ""
            }
            if !compat.isEmpty { add("-compat", compat) }
        }
        add("-S")
        try addMachine()
        try addCPU()
        try addMemory()
        let topology = domain.cpu?.topology
        let sockets = topology?.sockets ?? domain.vcpus, cores = topology?.cores ?? 1, threads = topology?.threads ?? 1, dies = topology?.dies ?? 1
        // `maxcpus` only when some vCPUs start unplugged (libvirt's form); enabled hotpluggable
        // vCPUs of `<vcpus>` are plugged in after QEMU starts.
        try checkVcpuOrders()
        let maximum = domain.vcpusAtLaunch == domain.vcpus ? "" : ",maxcpus=\(domain.vcpus)"
        add("-smp", "\(domain.vcpusAtLaunch)\(maximum),sockets=\(sockets),dies=\(dies),cores=\(cores),threads=\(threads)")
        try addNUMANodes()
        for id in domain.ioThreadIDs {
            let pool = (domain.ioThreadPools[id]?.qemuProperties ?? []).map { ($0.0, JSONValue.integer(Int64($0.1))) }
            add("-object", json: .object([("qom-type", .string("iothread")), ("id", .string("iothread\(id)"))] + pool))
        }
        // <defaultiothread>: the pool of QEMU's main loop, as libvirt sets it.
        if let pool = domain.mainLoopThreadPool {
            add("-object", json: .object([("qom-type", .string("main-loop")), ("id", .string("main-loop"))] + pool.qemuProperties.map { ($0.0, JSONValue.integer(Int64($0.1))) }))
        }
        add("-uuid", domain.uuid)
        try addSMBIOS()
        if let genid = domain.generationID {
            add("-device", json: .object([("driver", .string("vmgenid")), ("guid", .string(genid)), ("id", .string("vmgenid0"))]))
        }
        add("-no-user-config")
        add("-nodefaults")
        add("-chardev", try QEMUKeyValue.render("socket", [("id", "charmonitor"), ("path", context.qmpSocket), ("server", "on"), ("wait", "off")]))
        add("-mon", "chardev=charmonitor,id=monitor,mode=control")
        for index in 0..<domain.qemu.passthroughMonitorCount {
            let path = PassthroughMonitor.socketPath(runDirectory: context.runDirectory, index: index)
            add("-chardev", try QEMUKeyValue.render("socket", [("id", PassthroughMonitor.chardevID(index)), ("path", path), ("server", "on"), ("wait", "off")]))
            add("-mon", "chardev=\(PassthroughMonitor.chardevID(index)),id=\(PassthroughMonitor.monitorID(index)),mode=control")
        }
        try addClock()
        add("-no-shutdown")
        if let pm = domain.powerManagement {
            // libvirt's switches: the power-management device of the chipset.
            let device = (domain.os.machine ?? "").contains("q35") ? "ICH9-LPC" : "PIIX4_PM"
            if let s3 = pm.suspendToMemory { add("-global", "\(device).disable_s3=\(s3 ? 0 : 1)") }
            if let s4 = pm.suspendToDisk { add("-global", "\(device).disable_s4=\(s4 ? 0 : 1)") }
        }
        // libvirt's -boot: the menu and its splash time, the reboot timeout, then strict.
        var boot: [String] = []
        if let menu = domain.os.bootMenu {
            boot.append("menu=\(menu ? "on" : "off")")
            if menu, let timeout = domain.os.bootMenuTimeout { boot.append("splash-time=\(timeout)") }
        }
        if let timeout = domain.os.rebootTimeout { boot.append("reboot-timeout=\(timeout)") }
        add("-boot", (boot + ["strict=on"]).joined(separator: ","))
        if let kernel = domain.os.kernel { add("-kernel", kernel) }
        if let initrd = domain.os.initrd { add("-initrd", initrd) }
        if let cmdline = domain.os.cmdline { add("-append", cmdline) }
        if let table = domain.os.slicTable { add("-acpitable", QEMUKeyValue.render([("sig", "SLIC"), ("file", table)])) }
        // A loader without a path (`<loader stateless='yes'/>` of a BIOS guest) leaves QEMU's own firmware.
        if let loader = domain.os.loader, !loader.path.isEmpty {
            if loader.type == .rom {
                add("-bios", loader.path)
            } else {
                add("-drive", QEMUKeyValue.render([("if", "pflash"), ("format", "raw"), ("unit", "0"), ("file", loader.path), ("readonly", loader.readonly ? "on" : "off")]))
                try addVariableStore()
                if loader.secure {
                    // A Secure Boot build: its flash is writable only in SMM.
                    add("-global", "driver=cfi.pflash01,property=secure,value=on")
                }
            }
        } else if domain.os.firmware == .efi {
            throw CommandLineError(.unsupported, "firmware 'efi' has not been resolved to a loader")
        }
        try addDevices()
        // Where libvirt puts it: after the host devices, before the balloon.
        if context.incomingMigration { add("-incoming", "defer") }
        try addDevicesAfterIncoming()
        // A snapshot's name is one argument of its own, taken whole (no option syntax to escape).
        if let snapshot = context.loadSnapshot { add("-loadvm", snapshot) }
        if !domain.qemu.configSections.sections.isEmpty { add("-readconfig", context.configFilePath) }
        let leading = options
        options = []
        try addDevicesAfterSandbox()
        trailingOptions = options
        options = leading
        try applyOverrides()
        try applyAlterations()
        for argument in domain.qemu.arguments { options.append(QEMUOption(argument)) }
        if capabilities.contains(.seccompSandbox) {
            add("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny")
        }
        options += trailingOptions
        trailingOptions = []
        add("-msg", "timestamp=on")
    }

    func invocation() -> QEMUInvocation {
        var environment: [(String, String)] = [("LC_ALL", "C")]
        for name in ["LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "HOME", "USER", "LOGNAME", "TMPDIR"] {
            if let value = context.passthroughEnvironment[name] { environment.append((name, value)) }
        }
        func set(_ name: String, _ value: String) {
            if let index = environment.firstIndex(where: { $0.0 == name }) { environment[index].1 = value } else { environment.append((name, value)) }
        }
        if context.privileged {
            set("HOME", context.runDirectory)
            set("XDG_DATA_HOME", context.runDirectory + "/.local/share")
            set("XDG_CACHE_HOME", context.runDirectory + "/.cache")
            set("XDG_CONFIG_HOME", context.runDirectory + "/.config")
        } else {
            set("XDG_CACHE_HOME", context.runDirectory + "/.cache")
        }
        if case .timezone(let zone) = domain.clock { set("TZ", zone) }
        // An SDL audio backend's driver (libvirt's `SDL_AUDIODRIVER`).
        if let driver = domain.devices.audios.compactMap({ $0.backend == .sdl ? $0.sdlDriver : nil }).first { set("SDL_AUDIODRIVER", driver.rawValue) }
        // An SDL display's X server and authority file, from its XML only (as libvirt's).
        if let display = domain.devices.graphics.first(where: { $0.type == .sdl }) {
            if let authority = display.sdlAuthority { set("XAUTHORITY", authority) }
            if let server = display.sdlDisplay { set("DISPLAY", server) }
            // No session bus: else libdbus, under SDL, forks `dbus-launch` to start one, which
            // the sandbox's spawn=deny answers with SIGSYS (libvirt's QEMU dies so).
            set("DBUS_SESSION_BUS_ADDRESS", "disabled:")
        }
        for variable in domain.qemu.environment { set(variable.name, variable.value ?? "") }
        var taints: [DomainTaint] = []
        let ns = domain.qemu
        if !ns.arguments.isEmpty || !ns.environment.isEmpty || !ns.alterations.isEmpty || !ns.configSections.sections.isEmpty {
            taints.append(.customArgv)
        }
        if !ns.capabilitiesAdded.isEmpty || !ns.capabilitiesRemoved.isEmpty { taints.append(.customHypervisorFeature) }
        if !ns.overrides.isEmpty { taints.append(.customDevice) }
        // libvirt's taint for any interface's script (qemuDomainObjCheckNetTaint).
        if domain.devices.interfaces.contains(where: { $0.script != nil }) { taints.append(.shellScripts) }
        return QEMUInvocation(
            executable: domain.devices.emulator ?? context.emulator, options: options, environment: environment,
            configFile: ns.configSections.sections.isEmpty ? nil : ns.configSections, taints: taints, devices: devices, secretFiles: secretFiles)
    }

    // MARK: - Passthrough

    mutating func applyCapabilityOverrides() throws(CommandLineError) {
        func named(_ names: [String]) throws(CommandLineError) -> [QEMUCapability] {
            var result: [QEMUCapability] = []
            for name in names {
                guard let capability = QEMUCapability(rawValue: name) else {
                    throw CommandLineError(.passthrough, "invalid qemu namespace capability '\(name)'")
                }
                result.append(capability)
            }
            return result
        }
        let added = try named(domain.qemu.capabilitiesAdded), removed = try named(domain.qemu.capabilitiesRemoved)
        capabilities.formUnion(added)
        capabilities.subtract(removed)
    }

    /// `qemu:override`: each property removes any existing key of that name, then (unless
    /// `remove`) appends the new value at the end of the `-device` JSON of the device whose id is
    /// the alias.
    mutating func applyOverrides(requireAll: Bool = true) throws(CommandLineError) {
        for override in domain.qemu.overrides {
            func isDevice(_ option: QEMUOption) -> Bool { option.name == "-device" && option.argument?.id == override.alias }
            let list: WritableKeyPath<Builder, [QEMUOption]>
            let index: Int
            if let found = options.firstIndex(where: isDevice) {
                (list, index) = (\.options, found)
            } else if let found = trailingOptions.firstIndex(where: isDevice) {
                (list, index) = (\.trailingOptions, found)
            } else {
                if !requireAll { continue }
                throw CommandLineError(.passthrough, "qemu:override: no device has the alias '\(override.alias)'")
            }
            guard case .json(.object(var members))? = self[keyPath: list][index].argument else {
                throw CommandLineError(.passthrough, "qemu:override: the device '\(override.alias)' is not in JSON form (the device-json capability was removed)")
            }
            for property in override.frontend {
                members.removeAll { $0.0 == property.name }
                let json: JSONValue?
                switch property.type {
                case .string: json = .string(property.value ?? "")
                case .signed: json = .integer(Int64(property.value ?? "0") ?? 0)
                case .unsigned: json = .unsigned(UInt64(property.value ?? "0") ?? 0)
                case .bool: json = .bool(property.value == "true")
                case .remove: json = nil
                }
                if let json { members.append((property.name, json)) }
            }
            self[keyPath: list][index].argument = .json(.object(members))
        }
    }

    /// `qemu:alter` rules on the generated options.
    mutating func applyAlterations(requireMatches: Bool = true) throws(CommandLineError) {
        for (number, rule) in domain.qemu.alterations.enumerated() {
            let label = "qemu:alter rule \(number + 1) (option '\(rule.option)'\(rule.match.map { ", match '\($0)'" } ?? ""))"
            let regex: Regex<AnyRegexOutput>?
            do {
                regex = try rule.match.map { try Regex($0) }
            } catch {
                throw CommandLineError(.passthrough, "\(label): the match does not compile: \(error)")
            }
            var matched = 0
            // An option's extras stay beside it, among the leading or the trailing options.
            func altered(_ list: [QEMUOption]) throws(CommandLineError) -> [QEMUOption] {
                var result: [QEMUOption] = []
                for option in list {
                    guard option.name == rule.option, regex.map({ (option.value ?? "").contains($0) }) ?? true else {
                        result.append(option)
                        continue
                    }
                    matched += 1
                    var altered = option
                    if let rename = rule.rename { altered.name = rename }
                    for modification in rule.modify {
                        altered.argument = try OptionValueEditor.set(modification, in: altered.argument ?? .text(""), label: label)
                    }
                    if !rule.remove { result.append(altered) }
                    result += rule.extra.map { QEMUOption($0) }
                }
                return result
            }
            options = try altered(options)
            trailingOptions = try altered(trailingOptions)
            guard matched > 0 || !requireMatches else {
                throw CommandLineError(.passthrough, "\(label) matches no generated option")
            }
        }
    }
}

extension Builder {
    /// The start-time checks of `<vcpus>` orders (libvirt's `qemuProcessValidateHotpluggableVcpus`):
    /// each order once, none beyond the vCPU count.
    func checkVcpuOrders() throws(CommandLineError) {
        var seen = Set<Int>()
        for state in domain.vcpuStates ?? [] where state.order != 0 {
            guard state.order <= domain.vcpus else { throw CommandLineError(.unsupported, "vcpu order '\(state.order)' exceeds vcpu count") }
            guard seen.insert(state.order).inserted else { throw CommandLineError(.unsupported, "duplicate vcpu order '\(state.order)'") }
        }
    }
}

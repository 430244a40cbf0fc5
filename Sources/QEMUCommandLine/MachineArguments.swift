import DomainXML

/// `-machine`, `-accel`, `-cpu` and the clock options, from `<os>`, `<features>`, `<cpu>` and
/// `<clock>`, as libvirt writes them (NUMA nodes and SMBIOS tables have files of their own).
extension Builder {
    /// `-machine TYPE,usb=off,vmport=…,smm=…,kernel_irqchip=…,dump-guest-core=off[,nvdimm=on][,acpi=off]`.
    mutating func addMachine() throws(CommandLineError) {
        let features = domain.features
        var properties = [("usb", "off")]
        if let vmport = features.vmport { properties.append(("vmport", vmport.rawValue)) }
        if let smm = features.smm { properties.append(("smm", smm.rawValue)) }
        switch features.ioapic {
        case .qemu?: properties.append(("kernel_irqchip", "split"))
        case .kvm?: properties.append(("kernel_irqchip", "on"))
        case nil: break
        }
        properties.append(("dump-guest-core", "off"))
        if domain.memoryBacking.noSharePages { properties.append(("mem-merge", "off")) }
        if domain.devices.memoryDevices.contains(where: { $0.model == .nvdimm }) { properties.append(("nvdimm", "on")) }
        // The ACPI HMAT: memory-side caches or interconnect figures of the NUMA nodes.
        if domain.cpu?.hasHMAT == true { properties.append(("hmat", "on")) }
        if usesSystemMemoryBackend { properties.append(("memory-backend", Self.systemMemoryID)) }
        // On x86 this turns SeaBIOS's output to the serial console (libvirt's `<bios useserial>`).
        if domain.os.biosUseSerial == true { properties.append(("graphics", "off")) }
        // Without <acpi/> an x86 guest has no ACPI (libvirt's -no-acpi), <features> or not.
        if !features.acpi { properties.append(("acpi", "off")) }
        add("-machine", try QEMUKeyValue.render(domain.os.machine ?? "pc", properties))
        if let cache = features.translationBlockCacheKiB {
            guard domain.type == .qemu else { throw CommandLineError(.unsupported, "TCG features are incompatible with domain type '\(domain.type.rawValue)'") }
            add("-accel", "tcg,tb-size=\(cache / 1024)")
        } else {
            add("-accel", domain.type == .kvm ? "kvm" : "tcg")
        }
        if features.smm == .on, let tseg = features.tsegMiB { add("-global", "mch.extended-tseg-mbytes=\(tseg)") }
    }

    /// `-cpu MODEL[,flags]`: the model from `<cpu>`, then the flags the timers and features ask
    /// for (kvmclock, Hyper-V, KVM's paravirtual features, the PMU). Flags without a model go
    /// on QEMU's default model, `qemu64`, as libvirt does.

    mutating func addCPU() throws(CommandLineError) {
        var model: String?
        var modelFlags: [String] = []
        if let cpu = domain.cpu {
            switch cpu.mode {
            case .hostPassthrough?, .hostModel?:
                guard domain.type == .kvm else { throw CommandLineError(.unsupported, "CPU mode '\(cpu.mode?.rawValue ?? "")' needs KVM (domain type 'kvm')") }
                model = "host"
            case .maximum?: model = "max"
            case .custom?, nil: model = cpu.model
            }
            if cpu.mode == .hostPassthrough || cpu.mode == .maximum, let migratable = cpu.migratable { modelFlags.append("migratable=\(migratable.rawValue)") }
            // `<vendor>` only names what the model must be; `vendor_id` is what the guest sees.
            if let vendorID = cpu.vendorID { modelFlags.append("vendor=\(QEMUKeyValue.escape(vendorID))") }
            for feature in cpu.features {
                // Features in QEMU's spelling (`fxsr_opt` is `fxsr-opt`), as libvirt writes them.
                let name = X86FeatureNames.qemu(feature.name)
                switch feature.policy {
                case .force, .require: modelFlags.append("\(name)=on")
                case .disable, .forbid: modelFlags.append("\(name)=off")
                case .optional: break
                }
            }
            if !modelFlags.isEmpty && model == nil {
                throw CommandLineError(.unsupported, "CPU features or vendor need a CPU model")
            }
        }
        let flags = modelFlags + cpuFlags()
        guard let model = model ?? (flags.isEmpty ? nil : "qemu64") else { return }
        add("-cpu", try QEMUKeyValue.implied(model) + flags.map { ",\($0)" }.joined())
    }

    /// The `-cpu` flags, in libvirt's order.
    func cpuFlags() -> [String] {
        var flags: [String] = []
        for timer in domain.timers {
            switch timer.name {
            case .kvmclock: if let present = timer.present { flags.append("kvmclock=\(present ? "on" : "off")") }
            case .hypervclock: if timer.present == true { flags.append("hv-time=on") }
            case .tsc: if let hertz = timer.frequency, hertz > 0 { flags.append("tsc-frequency=\(hertz)") }
            default: break
            }
        }
        let features = domain.features
        if let eoi = features.apicEOI { flags.append("kvm-pv-eoi=\(eoi.rawValue)") }
        if let pvspinlock = features.pvspinlock { flags.append("kvm-pv-unhalt=\(pvspinlock.rawValue)") }
        if let hyperV = features.hyperV {
            if hyperV.mode == .passthrough { flags.append("hv-passthrough=on") }
            for enlightenment in DomainDefinition.HyperV.Enlightenment.allCases where hyperV.isOn(enlightenment) {
                switch enlightenment {
                case .spinlocks: flags.append("hv-spinlocks=0x" + String(hyperV.spinlockRetries ?? 0xFFF, radix: 16))
                case .vendorID: flags.append("hv-vendor-id=\(hyperV.vendorID ?? "")")
                default:
                    flags.append("hv-\(enlightenment.rawValue)=on")
                    if enlightenment == .stimer && hyperV.stimerDirect == .on { flags.append("hv-stimer-direct=on") }
                }
            }
        }
        if domain.devices.panics.contains(where: { $0.model == .hyperv }) { flags.append("hv-crash") }
        if let kvm = features.kvm {
            if kvm.states[.hidden] == .on { flags.append("kvm=off") }
            if kvm.states[.hintDedicated] == .on { flags.append("kvm-hint-dedicated=on") }
            if kvm.states[.pollControl] == .on { flags.append("kvm-poll-control=on") }
            if kvm.states[.pvIPI] == .off { flags.append("kvm-pv-ipi=off") }
        }
        if let pmu = features.pmu { flags.append("pmu=\(pmu.rawValue)") }
        if let cpu = domain.cpu, let cache = cpu.cache {
            let hostsCache = cpu.mode == .hostPassthrough || cpu.mode == .maximum
            switch cache {
            case .emulate:
                flags.append("l3-cache=on")
                if hostsCache { flags.append("host-cache-info=off") }
            case .passthrough:
                flags.append("host-cache-info=on")
                flags.append("l3-cache=off")
            case .disable:
                if hostsCache { flags.append("host-cache-info=off") }
                flags.append("l3-cache=off")
            }
        }
        if let address = domain.cpu?.maxPhysicalAddress {
            switch address.mode {
            case .passthrough: flags.append("host-phys-bits=on")
            case .emulate: if let bits = address.bits { flags.append("phys-bits=\(bits)") }
            }
        }
        return flags
    }

    /// Where `-rtc` starts the guest's clock: `utc`, `localtime` (also for a time zone, which
    /// QEMU gets as `TZ`), or the date a variable or absolute clock gives at `reference`.
    static func clockBase(_ clock: DomainDefinition.ClockStart, at reference: ClockReference) throws(CommandLineError) -> String {
        let seconds: Int64?
        switch clock {
        case .utc: return "utc"
        case .localtime, .timezone: return "localtime"
        case .variable: seconds = reference.adjustmentFromUTC(of: clock).map { reference.utcSeconds + $0 }
        case .absolute(let start): seconds = Int64(clamping: start)
        }
        guard let seconds, let date = ClockReference.date(seconds) else {
            throw CommandLineError(.unsupported, "the clock's adjustment puts the guest's clock outside the years 1 to 9999")
        }
        return date
    }

    /// `-rtc base=…[,clock=…][,driftfix=slew]`, then the PIT's tick policy and `-no-hpet`; the
    /// timer settings QEMU cannot honour are refused with libvirt's messages.
    mutating func addClock() throws(CommandLineError) {
        var rtc = "base=" + (try Self.clockBase(domain.clock, at: context.clockReference))
        for timer in domain.timers {
            switch timer.name {
            case .platform: break  // refused by DefinitionChecks
            case .armvtimer: throw CommandLineError(.unsupported, "Configuring the 'armvtimer' timer is not supported for virtType=\(domain.type.rawValue) arch=x86_64 machine=\(domain.os.machine ?? "")")
            case .rtc:
                switch timer.track {
                case .boot?: throw CommandLineError(.unsupported, "unsupported rtc timer track 'boot'")
                case .guest?: rtc += ",clock=vm"
                case .wall?: rtc += ",clock=host"
                case .realtime?: rtc += ",clock=rt"
                case nil: break
                }
                switch timer.tickpolicy {
                case .catchup?: rtc += ",driftfix=slew"
                case .merge?, .discard?, .delay?, nil: break  // merge and discard: refused by DefinitionChecks
                }
            default: break
            }
        }
        add("-rtc", rtc)
        for timer in domain.timers {
            switch timer.name {
            case .pit:
                switch timer.tickpolicy {
                case .delay?, nil: add("-global", "kvm-pit.lost_tick_policy=delay")
                case .discard?: add("-global", "kvm-pit.lost_tick_policy=discard")
                case .catchup?: break
                case .merge?: throw CommandLineError(.unsupported, "unsupported pit tickpolicy 'merge'")
                }
            case .hpet:
                if timer.present == false { add("-no-hpet") }
            default: break
            }
        }
    }
}

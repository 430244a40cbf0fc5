import XMLTree

extension DomainDefinition {
    /// `on`/`off` of a feature's `state` (libvirt's tristate switch; absent is `nil`).
    public enum FeatureSwitch: String, ModelledValue {
        case on, off

        var isOn: Bool { self == .on }
    }

    /// `<features>`: the machine and CPU features the guest sees.
    public struct Features: Hashable, Sendable, ModelledElement {
        /// `<ioapic driver>`: where the guest's IOAPIC is emulated.
        public enum IOAPICDriver: String, ModelledValue {
            case kvm, qemu
        }

        /// `<msrs unknown>`: what KVM does with MSRs it does not know (a host setting libvirt's
        /// QEMU driver does not pass to QEMU).
        public enum UnknownMSRs: String, ModelledValue {
            case ignore, fault
        }

        /// Whether `<features>` names no feature at all.
        public var isEmpty = true
        public var acpi = false
        public var apic = false
        /// `<apic eoi>`: the paravirtual end-of-interrupt (`kvm-pv-eoi`).
        public var apicEOI: FeatureSwitch?
        public var pae = false
        /// `<hap state>` (hardware-assisted paging; QEMU always uses it where it can).
        public var hap: FeatureSwitch?
        /// `<pmu state>`: the guest's performance monitoring unit.
        public var pmu: FeatureSwitch?
        /// `<vmport state>`: VMware's I/O port.
        public var vmport: FeatureSwitch?
        /// `<pvspinlock state>`: paravirtual spinlocks (`kvm-pv-unhalt`).
        public var pvspinlock: FeatureSwitch?
        /// `<vmcoreinfo state>`: the vmcoreinfo device, for guest kernel dumps.
        public var vmcoreinfo: FeatureSwitch?
        /// `<smm state>`: System Management Mode.
        public var smm: FeatureSwitch?
        /// `<smm><tseg>` in MiB: the extended TSEG size.
        public var tsegMiB: UInt64?
        public var ioapic: IOAPICDriver?
        public var unknownMSRs: UnknownMSRs?
        public var hyperV: HyperV?
        public var kvm: KVMFeatures?
        /// `<tcg><tb-cache>` in KiB: TCG's translation block cache.
        public var translationBlockCacheKiB: UInt64?

        static let stateOnly = ["hap", "pmu", "vmport", "pvspinlock", "vmcoreinfo"]

        static let schema = ElementSchema("features", children: [
            .text("acpi"), ElementSchema("apic", attributes: ["eoi"]), .text("pae"), .text("viridian"), .text("privnet"),
            ElementSchema("smm", attributes: ["state"], children: [.text("tseg", attributes: ["unit"])]),
            ElementSchema("ioapic", attributes: ["driver"]), ElementSchema("msrs", attributes: ["unknown"]),
            HyperV.schema, KVMFeatures.schema,
            ElementSchema("tcg", children: [.text("tb-cache", attributes: ["unit"])]),
        ] + stateOnly.map { ElementSchema($0, attributes: ["state"]) })

        /// libvirt's feature names: any other child of `<features>` is refused, as libvirt does.
        static let knownNames: Set<String> = [
            "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "pvspinlock", "capabilities", "pmu", "vmport",
            "gic", "smm", "ioapic", "hpt", "vmcoreinfo", "htm", "nested-hv", "msrs", "ccf-assist", "xen", "cfpc", "sbbc", "ibs", "tcg",
        ]

        public init() {}

        init(_ element: XMLElement) throws(DomainXMLError) {
            for feature in element.elements where feature.namespace == nil {
                guard Self.knownNames.contains(feature.name) else {
                    throw DomainXMLError(.unsupported, line: feature.line, "unexpected feature '\(feature.name)'")
                }
                isEmpty = false
                func state() throws(DomainXMLError) -> FeatureSwitch { try FeatureSwitch.optionalAttribute("state", of: feature) ?? .on }
                switch feature.name {
                case "acpi": acpi = true
                case "pae": pae = true
                case "apic":
                    apic = true
                    apicEOI = try FeatureSwitch.optionalAttribute("eoi", of: feature)
                case "hap": hap = try state()
                case "pmu": pmu = try state()
                case "vmport": vmport = try state()
                case "pvspinlock": pvspinlock = try state()
                case "vmcoreinfo": vmcoreinfo = try state()
                case "smm":
                    smm = try state()
                    if smm == .on, let tseg = feature.element(named: "tseg") {
                        let kib = try DomainNormalizer.kibibytes(tseg, defaultUnit: "MiB")
                        tsegMiB = kib / 1024
                    }
                case "ioapic": ioapic = try IOAPICDriver.optionalAttribute("driver", of: feature)
                case "msrs": unknownMSRs = try UnknownMSRs.requiredAttribute("unknown", of: feature)
                case "hyperv": hyperV = try HyperV(feature)
                case "kvm": kvm = try KVMFeatures(feature)
                case "tcg":
                    if let cache = feature.element(named: "tb-cache") {
                        let kib = try DomainNormalizer.kibibytes(cache, defaultUnit: "KiB")
                        if kib > 0 { translationBlockCacheKiB = kib }
                    }
                default: break  // Other architectures' and other drivers' features: unmodelled, refused at start.
                }
            }
        }
    }

    /// `<features><hyperv>`: Hyper-V enlightenments for Windows guests.
    public struct HyperV: Hashable, Sendable, ModelledElement {
        /// `<hyperv mode>`.
        public enum Mode: String, ModelledValue {
            case custom, passthrough
        }

        /// An enlightenment, in libvirt's order (which is the order of QEMU's `hv-` flags).
        public enum Enlightenment: String, ModelledValue {
            case relaxed, vapic, spinlocks, vpindex, runtime, synic, stimer, reset
            case vendorID = "vendor_id"
            case frequencies, reenlightenment, tlbflush, ipi, evmcs, avic
        }

        /// An enlightenment the XML switches on or off.
        public struct Setting: Hashable, Sendable {
            public var enlightenment: Enlightenment
            public var state: FeatureSwitch
        }

        public var mode: Mode
        /// Each enlightenment the XML switches, on or off, in the XML's order.
        public var settings: [Setting] = []
        /// `<spinlocks retries>` (at least 4095), when spinlocks are on.
        public var spinlockRetries: UInt32?
        /// `<vendor_id value>` (up to 12 characters), when on.
        public var vendorID: String?
        /// `<stimer><direct state>`.
        public var stimerDirect: FeatureSwitch?

        static let schema = ElementSchema("hyperv", attributes: ["mode"], children: Enlightenment.allCases.map { enlightenment in
            switch enlightenment {
            case .spinlocks: ElementSchema("spinlocks", attributes: ["state", "retries"])
            case .vendorID: ElementSchema("vendor_id", attributes: ["state", "value"])
            case .stimer: ElementSchema("stimer", attributes: ["state"], children: [ElementSchema("direct", attributes: ["state"])])
            default: ElementSchema(enlightenment.rawValue, attributes: ["state"])
            }
        })

        /// libvirt's limit on `vendor_id` (`VIR_DOMAIN_HYPERV_VENDOR_ID_MAX`).
        static let maximumVendorIDLength = 12

        init(_ element: XMLElement) throws(DomainXMLError) {
            mode = try Mode.attribute("mode", of: element, default: .custom)
            for child in element.elements where child.namespace == nil {
                guard let enlightenment = Enlightenment(rawValue: child.name) else {
                    throw DomainXMLError(.unsupported, line: child.line, "unsupported HyperV Enlightenment feature: \(child.name)")
                }
                let state = try FeatureSwitch.requiredAttribute("state", of: child)
                settings.removeAll { $0.enlightenment == enlightenment }
                settings.append(Setting(enlightenment: enlightenment, state: state))
                guard state == .on else { continue }
                switch enlightenment {
                case .spinlocks:
                    guard let text = child[attribute: "retries"] else {
                        throw DomainXMLError(.invalid, line: child.line, "Missing required attribute 'retries' in element 'spinlocks'")
                    }
                    guard let retries = UInt32(text) else {
                        throw DomainXMLError(.invalid, line: child.line, "Invalid value for attribute 'retries' in element 'spinlocks': '\(text)'. Expected non-negative integer value")
                    }
                    guard retries >= 0xFFF else { throw DomainXMLError(.invalid, line: child.line, "HyperV spinlock retry count must be at least 4095") }
                    spinlockRetries = retries
                case .vendorID:
                    guard let value = child[attribute: "value"] else {
                        throw DomainXMLError(.invalid, line: child.line, "missing 'value' attribute for HyperV feature 'vendor_id'")
                    }
                    guard value.count <= Self.maximumVendorIDLength else {
                        throw DomainXMLError(.invalid, line: child.line, "HyperV vendor_id value must not be more than \(Self.maximumVendorIDLength) characters.")
                    }
                    // Anything but letters, digits and a few marks could break QEMU's option syntax.
                    guard !value.contains(","), value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 }) else {
                        throw DomainXMLError(.invalid, line: child.line, "HyperV vendor_id value is invalid")
                    }
                    vendorID = value
                case .stimer:
                    for direct in child.elements where direct.namespace == nil {
                        guard direct.name == "direct" else {
                            throw DomainXMLError(.unsupported, line: direct.line, "unsupported Hyper-V stimer feature: \(direct.name)")
                        }
                        stimerDirect = try FeatureSwitch.requiredAttribute("state", of: direct)
                    }
                default:
                    break
                }
            }
        }

        /// Whether `enlightenment` is switched on.
        public func isOn(_ enlightenment: Enlightenment) -> Bool {
            settings.contains { $0.enlightenment == enlightenment && $0.state == .on }
        }
    }

    /// `<features><kvm>`: KVM's paravirtual features.
    public struct KVMFeatures: Hashable, Sendable, ModelledElement {
        /// A KVM feature, as libvirt names it.
        public enum Feature: String, ModelledValue {
            case hidden
            case hintDedicated = "hint-dedicated"
            case pollControl = "poll-control"
            case pvIPI = "pv-ipi"
            case dirtyRing = "dirty-ring"
        }

        public var states: [Feature: FeatureSwitch] = [:]
        /// `<dirty-ring size>`: a power of two from 1024 to 65536, when the dirty ring is on.
        public var dirtyRingSize: UInt32?

        static let schema = ElementSchema("kvm", children: Feature.allCases.map { feature in
            ElementSchema(feature.rawValue, attributes: feature == .dirtyRing ? ["state", "size"] : ["state"])
        })

        init(_ element: XMLElement) throws(DomainXMLError) {
            for child in element.elements where child.namespace == nil {
                guard let feature = Feature(rawValue: child.name) else {
                    throw DomainXMLError(.unsupported, line: child.line, "unsupported KVM feature: \(child.name)")
                }
                let state = try FeatureSwitch.requiredAttribute("state", of: child)
                states[feature] = state
                if feature == .dirtyRing && state == .on {
                    guard let size = child[attribute: "size"].flatMap({ UInt32($0) }), size.nonzeroBitCount == 1, (1024...65536).contains(size) else {
                        throw DomainXMLError(.invalid, line: child.line, "dirty ring must be power of 2 and ranges [1024, 65536]")
                    }
                    dirtyRingSize = size
                }
            }
        }
    }
}

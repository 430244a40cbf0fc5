import CorralProtocol
import DomainXML
import QEMUCommandLine
import QEMUProbe
import XMLTree

/// libvirt's domain capabilities (`virConnectGetDomainCapabilities`): what a domain may use with
/// this emulator, machine and accelerator. Every list says what Corral can start — the model's
/// values the command line builder supports (``CommandLineSupport``), narrowed to the devices and
/// CPU models the emulator reported when probed — not what QEMU or libvirt could do.
enum DomainCapabilitiesXML {
    /// What the caller asked for; `nil` means the default.
    struct Request: Sendable {
        var emulator: String?
        var arch: String?
        var machine: String?
        var virtType: String?
    }

    /// libvirt's virtualisation types (`virDomainVirtType`), for its "unknown virttype" error.
    static let knownVirtTypes: Set<String> = [
        "none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test", "vmware", "hyperv", "vbox", "phyp", "parallels", "bhyve", "vz",
    ]
    /// libvirt's architecture names (`virArch`), for its "unknown architecture" error.
    static let knownArchitectures: Set<String> = [
        "alpha", "armv6l", "armv7l", "armv7b", "aarch64", "cris", "i686", "itanium", "lm32", "loongarch64", "m68k", "microblaze",
        "microblazeel", "mips", "mipsel", "mips64", "mips64el", "openrisc", "parisc", "parisc64", "ppc", "ppcle", "ppc64", "ppc64le",
        "ppcemb", "riscv32", "riscv64", "s390", "s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32", "x86_64", "xtensa", "xtensaeb",
    ]

    /// The document, or libvirt's error for what cannot be served.
    static func format(
        _ request: Request, emulator primary: EmulatorCapabilities, i686: EmulatorCapabilities? = nil, firmware: [FirmwareDescriptor] = []
    ) throws(RemoteError) -> String {
        let served = try resolve(request, emulator: primary, i686: i686)
        let hostModel = HostCPUModels.model(for: served.emulator, kvm: served.kvm)
        return XMLTreeWriter().write(
            document(emulator: served.emulator, machine: served.machine, kvm: served.kvm, arch: served.arch, firmware: firmware, hostModel: hostModel))
    }

    /// What a request names (by emulator, architecture, machine and virtualisation type, each
    /// defaulted as libvirt defaults it), or libvirt's error for what cannot be served.
    static func resolve(
        _ request: Request, emulator primary: EmulatorCapabilities, i686: EmulatorCapabilities?
    ) throws(RemoteError) -> (emulator: EmulatorCapabilities, machine: EmulatorCapabilities.Machine, kvm: Bool, arch: String) {
        // The emulator asked for by path, else the one of the architecture asked for (a 32-bit
        // guest's own when the host has it), else the configured one.
        let emulator = i686.flatMap { request.emulator == $0.path || (request.emulator == nil && request.arch == "i686") ? $0 : nil } ?? primary
        let arch = request.arch ?? (emulator.path == i686?.path ? "i686" : "x86_64")
        let virtType = request.virtType ?? (emulator.kvmUsable ? "kvm" : "qemu")
        guard knownVirtTypes.contains(virtType) else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unknown virttype: \(virtType)")
        }
        if let arch = request.arch {
            guard knownArchitectures.contains(arch) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unknown architecture: \(arch)")
            }
            guard DomainXMLOptions.architectures.contains(arch) else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "unable to find any emulator to serve '\(arch)' architecture")
            }
        }
        if let path = request.emulator, path != emulator.path {
            let served = [primary.path] + (i686.map { [$0.path] } ?? [])
            throw RemoteError(
                code: .configUnsupported, domain: .qemu,
                detail: "Corral serves only the emulators \(served.map { "'\($0)'" }.joined(separator: " and ")) (its --emulator and --emulator-i686), not '\(path)'")
        }
        if emulator.path == i686?.path && arch != "i686" {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "emulator '\(emulator.path)' does not support arch '\(arch)'")
        }
        guard emulator.version != 0 else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "the emulator '\(emulator.path)' could not be probed")
        }
        guard virtType == "qemu" || (virtType == "kvm" && emulator.kvmUsable) else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "Emulator '\(emulator.path)' does not support virt type '\(virtType)'")
        }
        let machine: EmulatorCapabilities.Machine
        if let name = request.machine {
            guard let found = emulator.machines.first(where: { $0.name == name }) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "the machine '\(name)' is not supported by emulator '\(emulator.path)'")
            }
            machine = found
        } else if let found = emulator.machines.first(where: { $0.isDefault }) ?? emulator.machines.first {
            machine = found
        } else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "the emulator '\(emulator.path)' reported no machine types")
        }
        return (emulator, machine, virtType == "kvm", arch)
    }

    /// The document; `firmware` are the host's firmware descriptors, of which those for the
    /// machine give the UEFI loaders and `firmware='efi'`.
    static func document(
        emulator: EmulatorCapabilities, machine: EmulatorCapabilities.Machine, kvm: Bool, arch: String = "x86_64", firmware: [FirmwareDescriptor] = [],
        hostModel: HostCPUModel? = nil
    ) -> XMLElement {
        // Firmware descriptors name QEMU's architectures (`i386` for 32-bit guests).
        let uefi = firmware.filter {
            $0.interfaceTypes.contains("uefi") && $0.supports(architecture: arch == "i686" ? "i386" : arch, machine: machine.canonical ?? machine.name)
        }
        var loaders: [String] = []
        for descriptor in uefi where !loaders.contains(descriptor.executable) { loaders.append(descriptor.executable) }
        let videoModels = CommandLineSupport.videoModels.filter { model in
            guard let device = CommandLineSupport.videoDevice(model), !emulator.deviceTypes.isEmpty else { return true }
            return emulator.deviceTypes.contains(device)
        }
        return element("domainCapabilities", children: [
            element("path", text: emulator.path),
            element("domain", text: kvm ? "kvm" : "qemu"),
            element("machine", text: machine.canonical ?? machine.name),
            element("arch", text: arch),
            element("vcpu", ["max": "\(machine.maximumCPUs)"]),
            supported("iothreads", false),
            supported("os", true, [
                enumeration("firmware", uefi.isEmpty ? [] : ["efi"]),
                supported("loader", true, loaders.map { element("value", text: $0) } + [
                    enumeration("type", CommandLineSupport.loaderTypes.map(\.rawValue)),
                    enumeration("readonly", ["yes", "no"]),
                    enumeration("secure", ["yes", "no"]),
                ]),
            ]),
            element("cpu", children: [
                mode("host-passthrough", kvm),
                mode("maximum", true),
                // The host model a host-model guest starts with, as libvirt lists it.
                mode("host-model", hostModel != nil, hostModel.map { host in
                    [element("model", ["fallback": "forbid"], text: host.model)] + (host.vendor.map { [element("vendor", text: $0)] } ?? [])
                        + host.features.map { element("feature", ["policy": $0.required ? "require" : "disable", "name": $0.name]) }
                } ?? []),
                // Each with its vendor in libvirt's CPU map ('unknown' for a vendor-neutral model
                // or one the map lacks), as libvirt lists them.
                mode("custom", true, emulator.namedCPUModels.map { model in
                    var listed = element("model", ["usable": model.usable ? "yes" : "no", "vendor": GuestCPUFeatures.map?.model(named: model.name)?.vendor ?? "unknown"], text: model.name)
                    if model.deprecated { listed.attributes.insert(XMLAttribute(name: "deprecated", value: "yes"), at: 1) }
                    return listed
                }),
            ]),
            supported("memoryBacking", true, [enumeration("sourceType", DomainDefinition.MemoryBacking.Source.allCases.map(\.rawValue))]),
            element("devices", children: [
                supported("disk", true, [
                    enumeration("diskDevice", CommandLineSupport.diskDevices.map(\.rawValue)),
                    enumeration("bus", CommandLineSupport.diskBuses.map(\.rawValue)),
                ]),
                supported("graphics", true, [enumeration("type", CommandLineSupport.graphicsTypes.map(\.rawValue))]),
                supported("video", true, [enumeration("modelType", videoModels.map(\.rawValue))]),
                supported("hostdev", false),
                supported("rng", true, [
                    enumeration("model", CommandLineSupport.rngModels.map(\.rawValue)),
                    enumeration("backendModel", CommandLineSupport.rngBackends.map(\.rawValue)),
                ]),
                supported("filesystem", true, [enumeration("driverType", CommandLineSupport.filesystemDrivers.map(\.rawValue))]),
                supported("tpm", true, [
                    enumeration("model", ["tpm-tis", "tpm-crb"]), enumeration("backendModel", DomainDefinition.TPM.Backend.allCases.map(\.rawValue)),
                    enumeration("backendVersion", DomainDefinition.TPM.Version.allCases.map(\.rawValue)),
                ]),
                supported("redirdev", true, [enumeration("bus", DomainDefinition.RedirectedDevice.Bus.allCases.map(\.rawValue))]),
                supported("channel", true, [enumeration("type", CommandLineSupport.characterDeviceTypes.map(\.rawValue))]),
            ]),
            // genid: QEMU's vmgenid device; backingStoreInput: <backingStore> chains the XML
            // describes are what QEMU opens.
            element("features", children: [
                supported("gic", false), supported("vmcoreinfo", true),
                supported("genid", emulator.deviceTypes.isEmpty || emulator.deviceTypes.contains("vmgenid")), supported("backingStoreInput", true),
            ] + ["backup", "sev", "sgx"].map { supported($0, false) }),
        ])
    }

    private static func element(_ name: String, _ attributes: KeyValuePairs<String, String> = [:], text: String? = nil, children: [XMLElement] = []) -> XMLElement {
        XMLElement(
            name: name, attributes: attributes.map { XMLAttribute(name: $0.key, value: $0.value) },
            children: (text.map { [XMLNode.text($0)] } ?? []) + children.map { .element($0) })
    }

    private static func supported(_ name: String, _ isSupported: Bool, _ children: [XMLElement] = []) -> XMLElement {
        element(name, ["supported": isSupported ? "yes" : "no"], children: isSupported ? children : [])
    }

    private static func mode(_ name: String, _ isSupported: Bool, _ children: [XMLElement] = []) -> XMLElement {
        element("mode", ["name": name, "supported": isSupported ? "yes" : "no"], children: isSupported ? children : [])
    }

    private static func enumeration(_ name: String, _ values: [String]) -> XMLElement {
        element("enum", ["name": name], children: values.map { element("value", text: $0) })
    }
}

import CorralProtocol
import DomainXML
import Foundation
import XDR

/// `virsh save`, `restore`, `save-image-dumpxml`/`-define` and `managedsave`: a running guest's
/// state to a file in libvirt's image format and back.
enum SaveRestoreProcedures {
    /// The save flags each call takes (`VIR_DOMAIN_SAVE_*`; `RESET_NVRAM` only when restoring).
    static let saveFlags: UInt32 = SaveFlags.bypassCache.rawValue | SaveFlags.running.rawValue | SaveFlags.paused.rawValue
    static let restoreFlags: UInt32 = saveFlags | SaveFlags.resetNVRAM.rawValue
    /// What an image's XML replacement takes: whether it restores running or paused.
    static let defineFlags: UInt32 = SaveFlags.running.rawValue | SaveFlags.paused.rawValue
    /// `VIR_DOMAIN_SAVE_IMAGE_XML_SECURE`.
    static let secureXMLFlag: UInt32 = 1
    /// The typed parameters of `SAVE_PARAMS` and `RESTORE_PARAMS` in libvirt 9.0.
    static let parameterSchema: [String: TypedParameter.Kind] = ["file": .string, "dxml": .string]

    static func register(in table: inout ProcedureTable, driver: DomainDriver, registry: DomainRegistry, options: DomainXMLOptions) {
        @Sendable func save(_ handle: RemoteDomain, to path: String, dxml: String?, flags: UInt32, _ function: String) async throws(RemoteError) {
            try DomainProcedures.checkFlags(flags, allowed: saveFlags, function: function)
            let flags = try checked(SaveFlags(rawValue: flags))
            let path = try absolute(path)
            let record = try registry.record(for: handle)
            try await driver.jobs.run(record.name, function) { () async throws(RemoteError) in
                try await driver.save(try registry.record(for: handle).uuid, to: path, replacementXML: dxml, flags: flags)
            }
        }
        @Sendable func restore(from path: String, dxml: String?, flags: UInt32, _ function: String) async throws(RemoteError) {
            try DomainProcedures.checkFlags(flags, allowed: restoreFlags, function: function)
            let flags = try checked(SaveFlags(rawValue: flags))
            let path = try absolute(path)
            let image = try await BlockingWork.run { () throws(RemoteError) in try SaveImageFile.read(path, keepOpen: true) }
            guard let descriptor = image.descriptor else { throw SaveImageHeader.failure("failed to read qemu header") }
            defer { close(descriptor) }
            let parsed = try await parse(dxml ?? image.data.xml, options: options)
            if dxml != nil {
                let saved = try await parse(image.data.xml, options: options)
                try sameDomain(parsed, saved)
            }
            _ = try await driver.jobs.run(parsed.definition.name, function) { () async throws(RemoteError) -> RemoteDomain in
                try await driver.restore(parsed, image: image.header, descriptor: descriptor, flags: flags)
            }
        }

        table.registerAsync(Remote.DomainSave.self) { arguments, _ throws(RemoteError) in
            try await save(arguments.dom, to: arguments.to, dxml: nil, flags: 0, "qemuDomainSave")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSaveFlags.self) { arguments, _ throws(RemoteError) in
            try await save(arguments.dom, to: arguments.to, dxml: arguments.dxml, flags: arguments.flags, "qemuDomainSaveFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSaveParams.self) { arguments, _ throws(RemoteError) in
            let (file, dxml) = try fileAndXML(arguments.params)
            guard let file else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "saving to a file named by the daemon is not supported: give 'file'")
            }
            try await save(arguments.dom, to: file, dxml: dxml, flags: arguments.flags, "qemuDomainSaveParams")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainRestore.self) { arguments, _ throws(RemoteError) in
            try await restore(from: arguments.from, dxml: nil, flags: 0, "qemuDomainRestore")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainRestoreFlags.self) { arguments, _ throws(RemoteError) in
            try await restore(from: arguments.from, dxml: arguments.dxml, flags: arguments.flags, "qemuDomainRestoreFlags")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainRestoreParams.self) { arguments, _ throws(RemoteError) in
            let (file, dxml) = try fileAndXML(arguments.params)
            guard let file else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "missing file parameter") }
            try await restore(from: file, dxml: dxml, flags: arguments.flags, "qemuDomainRestoreParams")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainSaveImageGetXMLDesc.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: secureXMLFlag, function: "qemuDomainSaveImageGetXMLDesc")
            return .init(xml: try await imageXML(try absolute(arguments.file), secure: arguments.flags & secureXMLFlag != 0, options: options))
        }
        table.registerAsync(Remote.DomainSaveImageDefineXML.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: defineFlags, function: "qemuDomainSaveImageDefineXML")
            _ = try checked(SaveFlags(rawValue: arguments.flags))
            let path = try absolute(arguments.file)
            try await defineImageXML(path, xml: arguments.dxml, flags: SaveFlags(rawValue: arguments.flags), options: options)
            return XDRVoid()
        }

        // MARK: Core dumps
        @Sendable func dump(_ handle: RemoteDomain, to path: String, format: UInt32, flags: UInt32, _ function: String) async throws(RemoteError) {
            try DomainProcedures.checkFlags(flags, allowed: 0x1F, function: function)
            let flags = DumpFlags(rawValue: flags)
            for (a, b, names) in [(DumpFlags.crash, DumpFlags.live, ("VIR_DUMP_CRASH", "VIR_DUMP_LIVE")), (.crash, .reset, ("VIR_DUMP_CRASH", "VIR_DUMP_RESET")),
                                  (.live, .reset, ("VIR_DUMP_LIVE", "VIR_DUMP_RESET"))] where flags.contains(a) && flags.contains(b) {
                throw RemoteError(code: .invalidArgument, domain: .domain, detail: "Flags '\(names.0)' and '\(names.1)' are mutually exclusive")
            }
            guard let format = CoreDumpFormat(rawValue: format) else {
                throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "unknown dumpformat '\(Int32(bitPattern: format))'")
            }
            let path = try absolute(path)
            let name = try registry.record(for: handle).name
            try await driver.jobs.run(name, function) { () async throws(RemoteError) in
                try await driver.coreDump(try registry.record(for: handle).uuid, to: path, format: format, flags: flags)
            }
        }
        table.registerAsync(Remote.DomainCoreDump.self) { arguments, _ throws(RemoteError) in
            try await dump(arguments.dom, to: arguments.to, format: CoreDumpFormat.raw.rawValue, flags: arguments.flags, "qemuDomainCoreDump")
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainCoreDumpWithFormat.self) { arguments, _ throws(RemoteError) in
            try await dump(arguments.dom, to: arguments.to, format: arguments.dumpformat, flags: arguments.flags, "qemuDomainCoreDumpWithFormat")
            return XDRVoid()
        }

        // MARK: Managed save
        table.registerAsync(Remote.DomainManagedSave.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: saveFlags, function: "qemuDomainManagedSave")
            let flags = try checked(SaveFlags(rawValue: arguments.flags))
            try await driver.inJob(arguments.dom, "qemuDomainManagedSave") { uuid throws(RemoteError) in try await driver.managedSave(uuid, flags: flags) }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainManagedSaveRemove.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, function: "qemuDomainManagedSaveRemove")
            try await driver.inJob(arguments.dom, "qemuDomainManagedSaveRemove") { uuid throws(RemoteError) in try await driver.removeManagedSave(uuid) }
            return XDRVoid()
        }
        table.registerAsync(Remote.DomainManagedSaveGetXMLDesc.self) { arguments, context throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: secureXMLFlag, function: "qemuDomainManagedSaveGetXMLDesc")
            if arguments.flags & secureXMLFlag != 0 && context.isReadOnly { throw RemoteError.readOnly(api: "virDomainManagedSaveGetXMLDesc") }
            return .init(xml: try await imageXML(try managedImage(arguments.dom), secure: arguments.flags & secureXMLFlag != 0, options: options))
        }
        table.registerAsync(Remote.DomainManagedSaveDefineXML.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: defineFlags, function: "qemuDomainManagedSaveDefineXML")
            _ = try checked(SaveFlags(rawValue: arguments.flags))
            let path = try managedImage(arguments.dom)
            let name = try registry.record(for: arguments.dom).name
            try await driver.jobs.run(name, "qemuDomainManagedSaveDefineXML") { () async throws(RemoteError) in
                guard let xml = arguments.dxml else { throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "a new XML is needed") }
                try await defineImageXML(path, xml: xml, flags: SaveFlags(rawValue: arguments.flags), options: options)
            }
            return XDRVoid()
        }

        /// The managed save image of `handle`, which must have one.
        @Sendable func managedImage(_ handle: RemoteDomain) throws(RemoteError) -> String {
            let record = try registry.record(for: handle)
            guard record.hasManagedSave else {
                throw RemoteError(code: .noDomain, domain: .qemu, detail: "domain does not have managed save image")
            }
            return driver.managedSavePath(for: record.name)
        }
    }

    /// libvirt's rule for the running/paused pair.
    static func checked(_ flags: SaveFlags) throws(RemoteError) -> SaveFlags {
        if flags.contains(.running) && flags.contains(.paused) {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "Flags 'VIR_DOMAIN_SAVE_RUNNING' and 'VIR_DOMAIN_SAVE_PAUSED' are mutually exclusive")
        }
        return flags
    }

    /// The daemon runs elsewhere than the client: a path must be whole (libvirt's client makes
    /// it so before sending).
    static func absolute(_ path: String) throws(RemoteError) -> String {
        guard path.hasPrefix("/") else {
            throw RemoteError(code: .invalidArgument, domain: .qemu, detail: "the path '\(path)' is not absolute")
        }
        return path
    }

    /// The domain XML of the image at `path`, as libvirt normalises it; without secrets unless
    /// `secure`.
    static func imageXML(_ path: String, secure: Bool, options: DomainXMLOptions) async throws(RemoteError) -> String {
        let image = try await BlockingWork.run { () throws(RemoteError) in try SaveImageFile.read(path) }
        let xml = try await parse(image.data.xml, options: options).xml
        return secure ? xml : DomainSecrets.stripped(xml)
    }

    static func parse(_ xml: String, options: DomainXMLOptions) async throws(RemoteError) -> ParsedDomain {
        try await BlockingWork.run { () throws(RemoteError) -> ParsedDomain in
            do throws(DomainXMLError) { return try DomainXMLParser.parse(xml, options: options) } catch { throw RemoteError(domainXMLError: error) }
        }
    }

    /// A replacement XML must describe the saved domain (libvirt checks the whole ABI; Corral
    /// checks its identity).
    static func sameDomain(_ replacement: ParsedDomain, _ saved: ParsedDomain) throws(RemoteError) {
        guard replacement.definition.name == saved.definition.name else {
            throw RemoteError(code: .invalidArgument, domain: .domain, detail: "Target domain name '\(replacement.definition.name)' does not match source '\(saved.definition.name)'")
        }
        guard replacement.definition.uuid == saved.definition.uuid else {
            throw RemoteError(code: .invalidArgument, domain: .domain, detail: "Target domain uuid '\(replacement.definition.uuid)' does not match source '\(saved.definition.uuid)'")
        }
    }

    /// `file` and `dxml` of a params call.
    static func fileAndXML(_ parameters: [TypedParameter]) throws(RemoteError) -> (String?, String?) {
        do throws(TypedParameterProblem) {
            try parameters.validate(against: parameterSchema)
        } catch {
            throw RemoteError(code: error.isUnsupported ? .argumentUnsupported : .invalidArgument, domain: .none, detail: error.message)
        }
        func string(_ name: String) -> String? {
            for parameter in parameters where parameter.field == name { if case .string(let value) = parameter.value { return value } }
            return nil
        }
        return (string("file"), string("dxml"))
    }

    /// Replaces an image's XML (same domain, within its room) and, with running/paused, its
    /// "was running" mark.
    static func defineImageXML(_ path: String, xml: String, flags: SaveFlags, options: DomainXMLOptions) async throws(RemoteError) {
        let image = try await BlockingWork.run { () throws(RemoteError) in try SaveImageFile.read(path) }
        let saved = try await parse(image.data.xml, options: options)
        let replacement = try await parse(xml, options: options)
        try sameDomain(replacement, saved)
        let wasRunning: Bool? = flags.contains(.running) ? true : flags.contains(.paused) ? false : nil
        try await BlockingWork.run { () throws(RemoteError) in try SaveImageFile.replaceXML(path, with: replacement.xml, wasRunning: wasRunning) }
    }
}

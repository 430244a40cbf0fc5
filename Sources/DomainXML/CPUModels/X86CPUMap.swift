import Foundation
import XMLTree

/// libvirt's x86 CPU map (`/usr/share/libvirt/cpu_map`, shipped with the client library
/// libvirt0): each feature's CPUID bits and each named model's features, which libvirt uses to
/// say which features a running guest's CPU has beyond or short of its model.
///
/// Corral reads libvirt's own files rather than carrying a copy: they are the facts libvirt's
/// clients compare against, and they stay current with the libvirt installed beside it.
public struct X86CPUMap: Sendable {
    /// A feature the map names.
    public struct Feature: Sendable {
        public var name: String
        /// Its CPUID bits; empty for a feature defined by an MSR, which Corral does not read.
        public var cpuid: X86CPUIDData
        /// Defined by a model-specific register rather than CPUID.
        public var isMSR: Bool
    }

    /// A family, model and (optionally) stepping range of real CPUs a named model stands for
    /// (`<signature family model stepping='0-4'>`).
    public struct Signature: Sendable, Equatable {
        public var family: UInt32
        public var model: UInt32
        /// The steppings it covers; `nil` for every stepping.
        public var steppings: ClosedRange<UInt32>?

        public init(family: UInt32, model: UInt32, steppings: ClosedRange<UInt32>?) {
            self.family = family
            self.model = model
            self.steppings = steppings
        }

        public func matches(family: UInt32, model: UInt32, stepping: UInt32) -> Bool {
            self.family == family && self.model == model && (steppings?.contains(stepping) ?? true)
        }
    }

    /// A named model: the CPUID bits of its features (with its ancestor's), and the features
    /// QEMU removed from it (`removed='yes'`), which a running guest's CPU lists as disabled.
    public struct Model: Sendable {
        public var name: String
        public var cpuid: X86CPUIDData
        public var removedFeatures: [String]
        /// Its vendor's name (`Intel`, `AMD`), or `nil` for a vendor-neutral model (`qemu64`).
        public var vendor: String? = nil
        public var signatures: [Signature] = []
        /// Whether a guest CPU may be described by this model (`<decode guest>`, on unless off).
        public var decodesGuest = true
    }

    /// A CPU vendor: its name in the map and XML, and its CPUID vendor string.
    public struct Vendor: Sendable, Equatable {
        public var name: String
        public var string: String
    }

    /// The features in the map's order (the order libvirt walks them in).
    public private(set) var features: [Feature] = []
    public private(set) var models: [String: Model] = [:]
    /// The models' names in the map's order (newest last).
    public private(set) var modelOrder: [String] = []
    public private(set) var vendors: [Vendor] = []
    private var featureIndex: [String: Int] = [:]

    /// Where libvirt installs its CPU map.
    public static let defaultDirectory = "/usr/share/libvirt/cpu_map"

    public init() {}

    public func feature(named name: String) -> Feature? { featureIndex[name].map { features[$0] } }

    /// The model a `<model>` text names (whitespace around or inside the name aside, as the
    /// names have none).
    public func model(named text: String) -> Model? { models[Self.modelName(text)] }

    /// A `<model>` text as a model name.
    public static func modelName(_ text: String) -> String { String(text.filter { !$0.isWhitespace }) }

    /// Reads the map from `directory`'s `index.xml` and the x86 files it includes; `nil` when
    /// there is no map there or it does not read.
    public static func load(directory: String = defaultDirectory) -> X86CPUMap? {
        func read(_ name: String) -> String? {
            guard !name.contains("/"), let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { return nil }
            return text
        }
        guard let index = read("index.xml") else { return nil }
        return try? parse(index: index, file: read)
    }

    /// The map from an index document and a reader of the files it includes.
    public static func parse(index: String, file: (String) -> String?) throws(CPUMapError) -> X86CPUMap {
        let root: XMLElement
        do throws(XMLParseError) { root = try XMLTreeParser.parse(index) } catch { throw CPUMapError("CPU map index: \(error)") }
        guard let arch = root.elements(named: "arch").first(where: { $0[attribute: "name"] == "x86" }) else {
            throw CPUMapError("CPU map index has no x86 architecture")
        }
        var map = X86CPUMap()
        for include in arch.elements(named: "include") {
            guard let name = include[attribute: "filename"], let text = file(name) else {
                throw CPUMapError("CPU map file \(include[attribute: "filename"] ?? "") cannot be read")
            }
            let document: XMLElement
            do throws(XMLParseError) { document = try XMLTreeParser.parse(text) } catch { throw CPUMapError("CPU map file \(name): \(error)") }
            for element in document.elements {
                switch element.name {
                case "feature": try map.addFeature(element)
                case "model": try map.addModel(element)
                case "vendor":
                    guard let name = element[attribute: "name"], let string = element[attribute: "string"] else { throw CPUMapError("CPU map vendor without a name or string") }
                    map.vendors.append(Vendor(name: name, string: string))
                default: continue
                }
            }
        }
        return map
    }

    private mutating func addFeature(_ element: XMLElement) throws(CPUMapError) {
        guard let name = element[attribute: "name"] else { throw CPUMapError("CPU map feature without a name") }
        var data = X86CPUIDData()
        for cpuid in element.elements(named: "cpuid") {
            guard let leaf = Self.hex(cpuid[attribute: "eax_in"]) else { throw CPUMapError("CPU map feature \(name) has no eax_in") }
            let subleaf = Self.hex(cpuid[attribute: "ecx_in"]) ?? 0
            for register in X86CPUIDRegister.allCases {
                if let mask = Self.hex(cpuid[attribute: register.rawValue]) {
                    data.add(mask, at: .init(leaf: leaf, subleaf: subleaf, register: register))
                }
            }
        }
        let msrs = element.elements(named: "msr")
        for msr in msrs {
            guard let index = Self.hex(msr[attribute: "index"]) else { throw CPUMapError("CPU map feature \(name) has no MSR index") }
            for half in X86MSRHalf.allCases {
                if let mask = Self.hex(msr[attribute: half.rawValue]) { data.add(mask, at: X86CPUIDData.MSRLocation(index: index, half: half)) }
            }
        }
        featureIndex[name] = features.count
        features.append(Feature(name: name, cpuid: data, isMSR: !msrs.isEmpty))
    }

    private mutating func addModel(_ element: XMLElement) throws(CPUMapError) {
        guard let name = element[attribute: "name"] else { throw CPUMapError("CPU map model without a name") }
        var model = Model(name: name, cpuid: X86CPUIDData(), removedFeatures: [])
        if let ancestor = element.element(named: "model")?[attribute: "name"] {
            guard let parent = models[ancestor] else { throw CPUMapError("CPU map model \(name) names unknown ancestor \(ancestor)") }
            model.cpuid = parent.cpuid
            model.vendor = parent.vendor
            model.signatures = parent.signatures
        }
        if let vendor = element.element(named: "vendor")?[attribute: "name"] { model.vendor = vendor }
        let signatures = element.elements(named: "signature")
        if !signatures.isEmpty {
            model.signatures = try signatures.map { signature throws(CPUMapError) in try Self.signature(signature, of: name) }
        }
        if let decode = element.element(named: "decode") { model.decodesGuest = decode[attribute: "guest"] != "off" }
        for feature in element.elements(named: "feature") {
            guard let featureName = feature[attribute: "name"], let known = self.feature(named: featureName) else {
                throw CPUMapError("CPU map model \(name) names an unknown feature")
            }
            if feature[attribute: "removed"] == "yes" {
                model.removedFeatures.append(featureName)
            } else {
                model.cpuid.add(known.cpuid)
            }
        }
        if models[name] == nil { modelOrder.append(name) }
        models[name] = model
    }

    private static func signature(_ element: XMLElement, of model: String) throws(CPUMapError) -> Signature {
        guard let family = element[attribute: "family"].flatMap({ UInt32($0) }), let number = element[attribute: "model"].flatMap({ UInt32($0) }) else {
            throw CPUMapError("CPU map model \(model) has a signature without family or model")
        }
        guard let stepping = element[attribute: "stepping"] else { return Signature(family: family, model: number, steppings: nil) }
        let bounds = stepping.split(separator: "-", maxSplits: 1).map { UInt32($0) }
        guard let low = bounds.first ?? nil, let high = bounds.last ?? nil, low <= high else {
            throw CPUMapError("CPU map model \(model) has a signature with stepping '\(stepping)'")
        }
        return Signature(family: family, model: number, steppings: low...high)
    }

    /// The vendor whose CPUID string is `string` (`AuthenticAMD` is `AMD`).
    public func vendor(string: String) -> Vendor? { vendors.first { $0.string == string } }

    static func hex(_ text: String?) -> UInt32? {
        guard var text else { return nil }
        if text.hasPrefix("0x") || text.hasPrefix("0X") { text.removeFirst(2) }
        return UInt32(text, radix: 16)
    }
}

/// Why libvirt's CPU map could not be read.
public struct CPUMapError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

import XMLTree

extension DomainDefinition {
    /// `<seclabel>` of a domain (libvirt's `virSecurityLabelDef`): how a security driver
    /// confines the guest. Corral's only security model is `none` (its capabilities say so):
    /// a guest whose label names another model is refused at start, as libvirt refuses a model
    /// it has no driver for.
    public struct SecurityLabel: Hashable, Sendable {
        /// `<seclabel type>`.
        public enum Kind: String, ModelledValue {
            case dynamic, `static`, none
        }

        public var type: Kind
        /// `<seclabel model>` (`none`, `dac`, `selinux`, `apparmor`).
        public var model: String
        /// `<seclabel relabel>`.
        public var relabel: Bool

        /// The security model Corral has (the host capabilities' `<secmodel>`).
        public static let hostModel = "none"

        static let schema = ElementSchema("seclabel", attributes: ["type", "model", "relabel"], children: [
            .text("label"), .text("imagelabel"), .text("baselabel"),
        ])

        /// Reads a normalised `<seclabel>` (its model and relabel completed).
        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.attribute("type", of: element, default: .dynamic)
            model = element[attribute: "model"] ?? Self.hostModel
            relabel = element[attribute: "relabel"] == "yes"
        }
    }
}

extension DomainNormalizer {
    /// The domain's `<seclabel>`s as libvirt reads and writes them (virSecurityLabelDefsParseXML,
    /// virSecurityLabelDefFormat), with its messages: `dynamic` by default, relabelling by
    /// default for `dynamic` only (and required there, refused for `none`), a static label's
    /// `<label>` required; model `none` (or no model, on one label of type `none` or a plain
    /// dynamic one: the host's model, `none`) is type `none`; one label per model; a label
    /// generated at start (a dynamic one's `<label>`, `<imagelabel>`) is kept only in a running
    /// guest's document.
    static func normalizeSecurityLabels(_ root: inout XMLElement, options: DomainXMLOptions) throws(DomainXMLError) {
        func isLabel(_ node: XMLNode) -> Bool { if case .element(let e) = node { e.name == "seclabel" && e.namespace == nil } else { false } }
        guard root.children.contains(where: isLabel) else { return }
        var failure: DomainXMLError?
        var models: [String?] = []
        let count = root.children.filter(isLabel).count
        root.children = root.children.map { node in
            guard failure == nil, case .element(var label) = node, isLabel(node) else { return node }
            do throws(DomainXMLError) {
                try normalizeSecurityLabel(&label, alone: count == 1, live: options.keepsLiveState)
            } catch {
                failure = error
            }
            models.append(label[attribute: "model"])
            return .element(label)
        }
        if let failure { throw failure }
        for (index, model) in models.enumerated() where models[..<index].contains(model) {
            throw DomainXMLError(.detail, "seclabel for model \(model ?? "(null)") is already provided")
        }
        if models.count > 1 && models.contains(nil) {
            throw DomainXMLError(.invalid, "missing security model when using multiple labels")
        }
    }

    static func normalizeSecurityLabel(_ label: inout XMLElement, alone: Bool, live: Bool) throws(DomainXMLError) {
        typealias Kind = DomainDefinition.SecurityLabel.Kind
        var type = try Kind.attribute("type", of: label, default: .dynamic)
        var relabel = type == .dynamic
        if let given = try AttributeValues.yesNo("relabel", of: label) { relabel = given }
        if type == .dynamic && !relabel { throw DomainXMLError(.unsupported, line: label.line, "dynamic label type must use resource relabeling") }
        if type == .none && relabel { throw DomainXMLError(.unsupported, line: label.line, "resource relabeling is not compatible with 'none' label type") }
        func text(_ name: String) -> String? { label.element(named: name).map(\.text).flatMap { $0.isEmpty ? nil : $0 } }
        var model = label[attribute: "model"]
        let baselabel = type == .dynamic ? text("baselabel") : nil
        if model == nil && alone {
            // One label without a model: the host's (none), for type none or a plain dynamic one.
            guard type == .none || (type == .dynamic && baselabel == nil && !live) else {
                throw DomainXMLError(.invalid, line: label.line, "missing security model in domain seclabel")
            }
            model = DomainDefinition.SecurityLabel.hostModel
        }
        var children: [XMLElement] = []
        if model == DomainDefinition.SecurityLabel.hostModel {
            if live && type != .none { throw DomainXMLError(.unsupported, line: label.line, "unsupported type='\(type.rawValue)' to model 'none'") }
            type = .none
            relabel = false
        } else {
            var labelText: String?
            if type == .static || (live && type != .none) {
                guard let given = text("label") else { throw DomainXMLError(.invalid, line: label.line, "security label is missing") }
                labelText = given
            }
            var imagelabel: String?
            if relabel && live && type != .none {
                guard let given = text("imagelabel") else { throw DomainXMLError(.invalid, line: label.line, "security imagelabel is missing") }
                imagelabel = given
            }
            if let labelText { children.append(element("label", text: labelText)) }
            if relabel, let imagelabel { children.append(element("imagelabel", text: imagelabel)) }
            if let baselabel { children.append(element("baselabel", text: baselabel)) }
        }
        var attributes = [("type", type.rawValue)]
        if let model { attributes.append(("model", model)) }
        if type != .none { attributes.append(("relabel", relabel ? "yes" : "no")) }
        label = element("seclabel", attributes, children: children)
    }
}

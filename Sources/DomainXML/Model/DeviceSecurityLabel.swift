import XMLTree

/// `<seclabel>` of a disk's or character device's `<source>` (libvirt's
/// `virSecurityDeviceLabelDef`): a security driver's label for that one file, or none
/// (`relabel='no'`). Corral's only security model is `none`, which relabels nothing: a label
/// for another model is refused at start, as a domain's is.
enum DeviceSecurityLabel {
    static let schema = ElementSchema("seclabel", attributes: ["model", "relabel", "labelskip"], children: [.text("label")])

    /// The models the `<seclabel>`s of `source` name (a label without a model names none).
    static func models(of source: XMLElement?) -> [String] {
        source?.elements(named: "seclabel").compactMap { $0[attribute: "model"] } ?? []
    }
}

extension DomainNormalizer {
    /// The `<seclabel>`s of a device's `<source>` as libvirt reads and writes them
    /// (virSecurityDeviceLabelDefParseXML, virSecurityDeviceLabelDefFormat), with its messages:
    /// one per model, relabelling unless `relabel='no'`, a `<label>` only with relabelling; a
    /// relabelling one without a label says nothing and is left out of a definition;
    /// `labelskip` only in a running guest's document.
    static func normalizeDeviceSecurityLabels(_ source: inout XMLElement, live: Bool) throws(DomainXMLError) {
        func isLabel(_ node: XMLNode) -> Bool { if case .element(let e) = node { e.name == "seclabel" && e.namespace == nil } else { false } }
        guard source.children.contains(where: isLabel) else { return }
        var seen: [String] = []
        var labels: [XMLNode] = []
        for label in source.elements(named: "seclabel") where label.namespace == nil {
            let model = label[attribute: "model"]
            if let model {
                if seen.contains(model) { throw DomainXMLError(.detail, "seclabel for model \(model) is already provided") }
                seen.append(model)
            }
            let relabel = try AttributeValues.yesNo("relabel", of: label) ?? true
            let labelskip = live ? try AttributeValues.yesNo("labelskip", of: label) ?? false : false
            let text = label.element(named: "label").map(\.text).flatMap { $0.isEmpty ? nil : $0 }
            if text != nil && !relabel {
                throw DomainXMLError(.invalid, line: label.line, "Cannot specify a label if relabelling is turned off. model=\(model ?? "<null>")")
            }
            if !live && text == nil && relabel { continue }
            var attributes: [(String, String)] = model.map { [("model", $0)] } ?? []
            attributes.append(labelskip ? ("labelskip", "yes") : ("relabel", relabel ? "yes" : "no"))
            labels.append(.element(element("seclabel", attributes, children: text.map { [element("label", text: $0)] } ?? [])))
        }
        // In the place of the first, the others' places dropped.
        let first = source.children.firstIndex(where: isLabel)!
        source.children.removeAll(where: isLabel)
        source.children.insert(contentsOf: labels, at: min(first, source.children.count))
        if source.children.allSatisfy({ if case .text(let text) = $0 { text.isAllWhitespace } else { false } }) { source.children = [] }
    }
}

import QEMUConfig
import XMLTree

extension QEMUNamespace {
    /// Reads the namespace from the direct children of `<domain>`, matching by URI.
    ///
    /// - Throws: ``DomainXMLError`` with libvirt's messages for libvirt's elements, and clear
    ///   ones for Corral's additions.
    static func parse(_ children: [XMLElement]) throws(DomainXMLError) -> QEMUNamespace {
        var ns = QEMUNamespace()
        for element in children where element.namespace == qemuNamespaceURI {
            switch element.name {
            case "commandline":
                for child in element.elements where child.namespace == qemuNamespaceURI {
                    switch child.name {
                    case "arg":
                        guard let value = child[attribute: "value"] else {
                            throw DomainXMLError(.namespace, line: child.line, "No qemu command-line argument specified")
                        }
                        ns.arguments.append(value)
                    case "env":
                        guard let name = child[attribute: "name"] else {
                            throw DomainXMLError(.namespace, line: child.line, "No qemu environment name specified")
                        }
                        try validateEnvironmentName(name, line: child.line)
                        ns.environment.append(QEMUEnvironmentVariable(name: name, value: child[attribute: "value"]))
                    case "alter":
                        ns.alterations.append(try OptionAlteration.parse(child))
                    default:
                        throw DomainXMLError(.invalid, line: child.line, "unknown element <qemu:\(child.name)> in <qemu:commandline> (expected arg, env or alter)")
                    }
                }
            case "capabilities":
                for child in element.elements where child.namespace == qemuNamespaceURI {
                    guard let capability = child[attribute: "capability"] else {
                        throw DomainXMLError(.namespace, line: child.line, "missing capability name")
                    }
                    switch child.name {
                    case "add": ns.capabilitiesAdded.append(capability)
                    case "del": ns.capabilitiesRemoved.append(capability)
                    default: throw DomainXMLError(.invalid, line: child.line, "unknown element <qemu:\(child.name)> in <qemu:capabilities> (expected add or del)")
                    }
                }
            case "deprecation":
                ns.deprecationBehavior = element[attribute: "behavior"]
            case "passthrough":
                ns.passthroughMonitors = try parsePassthrough(element)
            case "override":
                for device in element.elements where device.namespace == qemuNamespaceURI && device.name == "device" {
                    guard let alias = device[attribute: "alias"] else {
                        throw DomainXMLError(.invalid, line: device.line, "missing 'alias' attribute for qemu:device")
                    }
                    var properties: [DevicePropertyOverride] = []
                    for frontend in device.elements(named: "frontend", namespace: qemuNamespaceURI) {
                        for property in frontend.elements(named: "property", namespace: qemuNamespaceURI) {
                            properties.append(try DevicePropertyOverride.parse(property))
                        }
                    }
                    ns.overrides.append(DeviceOverride(alias: alias, frontend: properties))
                }
            default:
                ns.configSections.sections.append(try parseSection(element))
            }
        }
        return ns
    }

    /// `<qemu:passthrough monitors='N'/>`: the size of the guest's passthrough monitor pool.
    static func parsePassthrough(_ element: XMLElement) throws(DomainXMLError) -> Int? {
        for attribute in element.attributes where attribute.name != "monitors" || attribute.namespace != nil {
            throw DomainXMLError(.invalid, line: element.line, "unknown attribute '\(attribute.name)' of <qemu:passthrough> (expected monitors)")
        }
        guard element.elements.isEmpty, element.hasOnlyWhitespaceText else {
            throw DomainXMLError(.invalid, line: element.line, "<qemu:passthrough> has no content")
        }
        guard let text = element[attribute: "monitors"] else { return nil }
        let range = QEMUNamespace.passthroughMonitorRange
        guard let count = Int(text), range.contains(count) else {
            throw DomainXMLError(.invalid, line: element.line, "invalid passthrough monitors '\(text)': expected a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return count
    }

    static func validateEnvironmentName(_ name: String, line: Int) throws(DomainXMLError) {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isASCIILetter(first) else {
            throw DomainXMLError(.namespace, line: line, "Invalid environment name, it must begin with a letter or underscore")
        }
        guard name.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || isASCIILetter($0) || ($0 >= 48 && $0 <= 57) }) else {
            throw DomainXMLError(.namespace, line: line, "Invalid environment name, it must contain only alphanumerics and underscore")
        }
    }

    static func isASCIILetter(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }

    /// A configuration-file section: local name = group, `id` attribute, one child per key.
    static func parseSection(_ element: XMLElement) throws(DomainXMLError) -> QEMUConfigSection {
        var section = QEMUConfigSection(group: element.name, id: nil)
        for attribute in element.attributes {
            guard attribute.name == "id", attribute.namespace == nil else {
                throw DomainXMLError(.invalid, line: element.line, "the configuration section <qemu:\(element.name)> has an attribute '\(attribute.name)'; only 'id' is allowed")
            }
            section.id = attribute.value
        }
        guard element.hasOnlyWhitespaceText else {
            throw DomainXMLError(.invalid, line: element.line, "text directly inside the configuration section <qemu:\(element.name)>; values belong in key elements")
        }
        for key in element.elements {
            guard key.namespace == nil || key.namespace == qemuNamespaceURI else {
                throw DomainXMLError(.invalid, line: key.line, "the key <\(key.name)> of <qemu:\(element.name)> is in another namespace")
            }
            guard key.elements.isEmpty, key.attributes.isEmpty else {
                throw DomainXMLError(.invalid, line: key.line, "the key <\(key.name)> of <qemu:\(element.name)> must hold only text")
            }
            section.entries.append(QEMUConfigEntry(key: key.name, value: key.text))
        }
        let label = section.id.map { "<qemu:\(section.group) id='\($0)'>" } ?? "<qemu:\(section.group)>"
        for problem in QEMUConfigRules.problems(group: section.group, id: section.id, knownGroups: nil) {
            throw DomainXMLError(.invalid, line: element.line, "configuration section \(label): \(problem)")
        }
        for entry in section.entries {
            if let problem = QEMUConfigRules.problem(withName: entry.key, kind: "key") {
                throw DomainXMLError(.invalid, line: element.line, "configuration section \(label): \(problem)")
            }
            if let problem = QEMUConfigRules.problem(withValue: entry.value) {
                throw DomainXMLError(.invalid, line: element.line, "configuration section \(label): the value of '\(entry.key)' \(problem)")
            }
        }
        return section
    }

    /// The namespace as libvirt writes it, then Corral's sections: commandline (args, envs, then
    /// alteration rules), capabilities (adds, then dels), override, deprecation, sections.
    func elements() -> [XMLElement] {
        func q(_ name: String, _ attributes: [(String, String)] = [], _ children: [XMLElement] = []) -> XMLElement {
            XMLElement(
                name: name, namespace: qemuNamespaceURI, prefix: "qemu",
                attributes: attributes.map { XMLAttribute(name: $0.0, value: $0.1) }, children: children.map { .element($0) })
        }
        var result: [XMLElement] = []
        var commandline: [XMLElement] = arguments.map { q("arg", [("value", $0)]) }
        commandline += environment.map { q("env", [("name", $0.name)] + ($0.value.map { [("value", $0)] } ?? [])) }
        commandline += alterations.map { $0.element() }
        if !commandline.isEmpty { result.append(q("commandline", [], commandline)) }
        let capabilities = capabilitiesAdded.map { q("add", [("capability", $0)]) } + capabilitiesRemoved.map { q("del", [("capability", $0)]) }
        if !capabilities.isEmpty { result.append(q("capabilities", [], capabilities)) }
        if !overrides.isEmpty {
            result.append(q("override", [], overrides.map { device in
                let properties = device.frontend.map { p in
                    q("property", [("name", p.name), ("type", p.type.rawValue)] + (p.value.map { [("value", $0)] } ?? []))
                }
                return q("device", [("alias", device.alias)], properties.isEmpty ? [] : [q("frontend", [], properties)])
            }))
        }
        if let deprecationBehavior { result.append(q("deprecation", [("behavior", deprecationBehavior)])) }
        if let passthroughMonitors { result.append(q("passthrough", [("monitors", String(passthroughMonitors))])) }
        for section in configSections.sections {
            var element = q(section.group, section.id.map { [("id", $0)] } ?? [])
            element.children = section.entries.map { entry in .element(XMLElement(name: entry.key, children: entry.value.isEmpty ? [] : [.text(entry.value)])) }
            result.append(element)
        }
        return result
    }
}

extension DevicePropertyOverride {
    static func parse(_ element: XMLElement) throws(DomainXMLError) -> DevicePropertyOverride {
        guard let name = element[attribute: "name"] else {
            throw DomainXMLError(.invalid, line: element.line, "missing 'name' attribute for qemu:property")
        }
        guard name != "id" else { throw DomainXMLError(.invalid, line: element.line, "property with name 'id' can't be overridden") }
        guard let typeName = element[attribute: "type"], let type = ValueType(rawValue: typeName) else {
            throw DomainXMLError(.invalid, line: element.line, "invalid or missing 'type' attribute for qemu:property '\(name)' (expected string, signed, unsigned, bool or remove)")
        }
        let value = element[attribute: "value"]
        if type == .remove {
            guard value == nil else {
                throw DomainXMLError(.invalid, line: element.line, "setting 'value' attribute of 'qemu:property' doesn't make sense with 'remove' type")
            }
            return DevicePropertyOverride(name: name, type: type, value: nil)
        }
        guard let value else { throw DomainXMLError(.invalid, line: element.line, "missing 'value' attribute for 'qemu:property'") }
        let valid: Bool
        switch type {
        case .string, .remove: valid = true
        case .signed: valid = Int64(value) != nil
        case .unsigned: valid = UInt64(value) != nil
        case .bool: valid = value == "true" || value == "false"
        }
        guard valid else { throw DomainXMLError(.invalid, line: element.line, "invalid value '\(value)' of 'value' attribute of 'qemu:property'") }
        return DevicePropertyOverride(name: name, type: type, value: value)
    }
}

extension OptionAlteration {
    static func parse(_ element: XMLElement) throws(DomainXMLError) -> OptionAlteration {
        guard var option = element[attribute: "option"], !option.isEmpty, option != "-" else {
            throw DomainXMLError(.invalid, line: element.line, "<qemu:alter> needs an 'option' attribute naming the option to alter (for example '-device')")
        }
        if !option.hasPrefix("-") { option = "-" + option }
        var rule = OptionAlteration(option: option)
        for child in element.elements {
            guard child.namespace == qemuNamespaceURI else {
                throw DomainXMLError(.invalid, line: child.line, "<\(child.name)> inside <qemu:alter> must be in the qemu namespace")
            }
            switch child.name {
            case "match":
                guard rule.match == nil else { throw DomainXMLError(.invalid, line: child.line, "<qemu:alter option='\(option)'> has more than one <qemu:match>") }
                guard child.text.utf8.count <= 1024 else {
                    throw DomainXMLError(.invalid, line: child.line, "the <qemu:match> regular expression of <qemu:alter option='\(option)'> is longer than 1024 bytes")
                }
                do {
                    _ = try Regex(child.text)
                } catch {
                    throw DomainXMLError(.invalid, line: child.line, "the <qemu:match> regular expression '\(child.text)' of <qemu:alter option='\(option)'> does not compile: \(error)")
                }
                rule.match = child.text
            case "rename":
                var name = child.text
                guard !name.isEmpty, name != "-", !name.contains(where: \.isWhitespace) else {
                    throw DomainXMLError(.invalid, line: child.line, "<qemu:rename> of <qemu:alter option='\(option)'> needs an option name such as -newname")
                }
                if !name.hasPrefix("-") { name = "-" + name }
                rule.rename = name
            case "modify":
                let text = child.text
                guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                    throw DomainXMLError(.invalid, line: child.line, "<qemu:modify>\(text)</qemu:modify> of <qemu:alter option='\(option)'> must be key=value")
                }
                rule.modify.append(text)
            case "remove":
                rule.remove = true
            case "extra":
                rule.extra.append(child.text)
            default:
                throw DomainXMLError(.invalid, line: child.line, "unknown element <qemu:\(child.name)> in <qemu:alter> (expected match, rename, modify, remove or extra)")
            }
        }
        if rule.remove && (rule.rename != nil || !rule.modify.isEmpty) {
            throw DomainXMLError(.invalid, line: element.line, "<qemu:alter option='\(option)'> cannot both remove an option and rename or modify it")
        }
        if rule.rename == nil && rule.modify.isEmpty && !rule.remove && rule.extra.isEmpty {
            throw DomainXMLError(.invalid, line: element.line, "<qemu:alter option='\(option)'> does nothing: give it rename, modify, remove or extra")
        }
        return rule
    }

    func element() -> XMLElement {
        func q(_ name: String, _ text: String? = nil) -> XMLNode {
            .element(XMLElement(name: name, namespace: qemuNamespaceURI, prefix: "qemu", children: text.map { [.text($0)] } ?? []))
        }
        var children: [XMLNode] = []
        if let match { children.append(q("match", match)) }
        if let rename { children.append(q("rename", rename)) }
        children += modify.map { q("modify", $0) }
        if remove { children.append(q("remove")) }
        children += extra.map { q("extra", $0) }
        return XMLElement(name: "alter", namespace: qemuNamespaceURI, prefix: "qemu", attributes: [XMLAttribute(name: "option", value: option)], children: children)
    }
}

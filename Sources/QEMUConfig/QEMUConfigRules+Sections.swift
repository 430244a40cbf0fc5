extension QEMUConfigRules {
    /// What QEMU would refuse about a section header: an unknown group, a malformed id, an id on a
    /// group that takes none, or no id on a group that needs one.
    ///
    /// - Parameter knownGroups: The groups the emulator accepts, or `nil` to skip that check.
    public static func problems(group: String, id: String?, knownGroups: Set<String>?) -> [String] {
        var problems: [String] = []
        if let problem = problem(withName: group, kind: "group") {
            problems.append(problem)
        } else if let knownGroups, !knownGroups.contains(group) {
            problems.append("There is no option group '\(group)' in this QEMU")
        }
        if let id {
            if let problem = problem(withName: id, kind: "id") {
                problems.append(problem)
            } else if !isValidID(id) {
                problems.append("the id '\(id)' is not an identifier (a letter, then letters, digits, '-', '.' or '_'); QEMU says: Parameter 'id' expects an identifier")
            }
            if groupsWithoutID.contains(group) {
                problems.append("[\(group)] sections take no id; QEMU refuses '[\(group) \"\(id)\"]'")
            }
        } else if groupsNeedingID.contains(group) {
            problems.append("[\(group)] needs an id (QEMU 7.2 aborts on a [\(group)] section without one); write [\(group) \"default\"]")
        }
        return problems
    }
}

extension QEMUConfigFile {
    /// Every problem QEMU would have with these sections (names, values, ids, groups), without lines.
    ///
    /// - Parameter knownGroups: The groups the emulator accepts, or `nil` to skip that check.
    public func problems(knownGroups: Set<String>?) -> [String] {
        var problems: [String] = []
        for section in sections {
            let where_ = section.id.map { "[\(section.group) \"\($0)\"]" } ?? "[\(section.group)]"
            for problem in QEMUConfigRules.problems(group: section.group, id: section.id, knownGroups: knownGroups) {
                problems.append("\(where_): \(problem)")
            }
            for entry in section.entries {
                if let problem = QEMUConfigRules.problem(withName: entry.key, kind: "key") {
                    problems.append("\(where_): \(problem)")
                }
                if let problem = QEMUConfigRules.problem(withValue: entry.value) {
                    problems.append("\(where_): the value of '\(entry.key)' \(problem)")
                }
            }
        }
        return problems
    }
}

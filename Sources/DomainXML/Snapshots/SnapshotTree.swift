public import XMLTree

/// `VIR_DOMAIN_SNAPSHOT_LIST_*`: which snapshots a list or count takes.
public struct SnapshotListFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// For a domain's list: only snapshots without a parent. (For a snapshot's children the
    /// same bit is ``descendants``.)
    public static let roots = SnapshotListFlags(rawValue: 1)
    /// For a snapshot's children: all descendants, not only the direct children.
    public static let descendants = SnapshotListFlags(rawValue: 1)
    public static let metadata = SnapshotListFlags(rawValue: 2)
    public static let leaves = SnapshotListFlags(rawValue: 4)
    public static let noLeaves = SnapshotListFlags(rawValue: 8)
    public static let noMetadata = SnapshotListFlags(rawValue: 16)
    public static let inactive = SnapshotListFlags(rawValue: 32)
    public static let active = SnapshotListFlags(rawValue: 64)
    public static let diskOnly = SnapshotListFlags(rawValue: 128)
    public static let `internal` = SnapshotListFlags(rawValue: 256)
    public static let external = SnapshotListFlags(rawValue: 512)
    public static let topological = SnapshotListFlags(rawValue: 1024)

    /// Every flag libvirt 9.0 defines.
    public static let all = SnapshotListFlags(rawValue: 0x7FF)
}

/// A domain's snapshots: the tree their parents make, and which one is current (the parent
/// of the next snapshot). A pure value: the daemon stores it as one document, so a change is
/// all or nothing.
public struct SnapshotTree: Hashable, Sendable {
    /// The snapshots by name.
    public private(set) var snapshots: [String: DomainSnapshot] = [:]
    /// Names in the order they were added (creation order for snapshots taken here).
    public private(set) var names: [String] = []
    /// The current snapshot.
    public private(set) var current: String?

    /// An empty tree.
    public init() {}

    public var isEmpty: Bool { names.isEmpty }
    public var count: Int { names.count }

    public subscript(name: String) -> DomainSnapshot? { snapshots[name] }

    /// The direct children of `name` (the roots for `nil`), in creation order. A snapshot
    /// whose parent is not in the tree counts as a root, as libvirt links it.
    public func children(of name: String?) -> [String] {
        names.filter { parentInTree(of: $0) == name }
    }

    /// Every snapshot's children (the roots under `nil`), in creation order: built once for a
    /// walk, so lists stay linear in the number of snapshots.
    private func childIndex() -> [String?: [String]] {
        var index: [String?: [String]] = [:]
        for name in names { index[parentInTree(of: name), default: []].append(name) }
        return index
    }

    /// Every descendant of `name` (of every root for `nil`), parents before children.
    public func descendants(of name: String?) -> [String] {
        descendants(of: name, index: childIndex())
    }

    private func descendants(of name: String?, index: [String?: [String]]) -> [String] {
        var result: [String] = []
        // A cycle cannot be made through the API, but a hand-edited file could hold one.
        var seen: Set<String> = name.map { [$0] } ?? []
        var stack = Array((index[name] ?? []).reversed())
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            result.append(next)
            stack.append(contentsOf: (index[next] ?? []).reversed())
        }
        return result
    }

    /// The parent of `name` when it is in the tree.
    public func parentInTree(of name: String) -> String? {
        guard let parent = snapshots[name]?.parent, snapshots[parent] != nil else { return nil }
        return parent
    }

    /// Adds `snapshot`, or replaces the one with its name (a redefinition).
    public mutating func add(_ snapshot: DomainSnapshot) {
        if snapshots[snapshot.name] == nil { names.append(snapshot.name) }
        snapshots[snapshot.name] = snapshot
    }

    /// Makes `name` current (`nil`: none).
    public mutating func setCurrent(_ name: String?) {
        current = name.flatMap { snapshots[$0] != nil ? $0 : nil }
    }

    /// Removes `name`; its children move to its parent (libvirt's reparenting), and a
    /// current snapshot's parent becomes current.
    public mutating func remove(_ name: String) {
        guard let removed = snapshots[name] else { return }
        for child in childIndex()[name] ?? [] { snapshots[child]?.parent = removed.parent }
        snapshots[name] = nil
        names.removeAll { $0 == name }
        if current == name { current = removed.parent.flatMap { snapshots[$0] != nil ? $0 : nil } }
    }

    /// The names a list call returns (libvirt's `virDomainSnapshotObjListGetNames`): from the
    /// domain (`nil`) or a snapshot's children, filtered by `flags`.
    public func list(from start: String?, flags: SnapshotListFlags) -> [String] {
        // The same bit means "roots only" from the domain and "all descendants" from a snapshot.
        let wholeSubtree = start == nil ? !flags.contains(.roots) : flags.contains(.descendants)
        if flags.intersection([.metadata, .noMetadata]) == .noMetadata { return [] }  // every snapshot here has metadata
        let index = childIndex()
        var candidates = wholeSubtree ? descendants(of: start, index: index) : index[start] ?? []
        if start == nil && wholeSubtree && !flags.contains(.topological) {
            candidates = names  // creation order
        }
        return candidates.filter { matches($0, flags, isLeaf: index[$0] == nil) }
    }

    private func matches(_ name: String, _ flags: SnapshotListFlags, isLeaf: Bool) -> Bool {
        guard let snapshot = snapshots[name] else { return false }
        if flags.contains(.leaves) && !isLeaf { return false }
        if flags.contains(.noLeaves) && isLeaf { return false }
        let status: SnapshotListFlags = [.inactive, .active, .diskOnly]
        if !flags.isDisjoint(with: status) && !flags.isSuperset(of: status) {
            let state = snapshot.state ?? .nostate
            if !flags.contains(.inactive) && state == .shutoff { return false }
            if !flags.contains(.diskOnly) && state == .diskSnapshot { return false }
            if !flags.contains(.active) && !state.isOffline { return false }
        }
        if !flags.isSuperset(of: [.internal, .external]) {
            if flags.contains(.internal) && snapshot.isExternal { return false }
            if flags.contains(.external) && !snapshot.isExternal { return false }
        }
        return true
    }

    // MARK: - Storage

    /// The tree as one document: `<snapshots current='NAME'>` holding each
    /// `<domainsnapshot>` (with its secrets: this is the daemon's own file).
    public func storedDocument() -> String {
        var root = XMLElement(name: "snapshots", attributes: current.map { [XMLAttribute(name: "current", value: $0)] } ?? [])
        root.children = names.compactMap { snapshots[$0] }.map { .element($0.element(secure: true)) }
        return XMLTreeWriter(preferredPrefixes: [qemuNamespaceURI: "qemu"]).write(root)
    }

    /// Reads ``storedDocument()``.
    public init(storedDocument text: String, limits: XMLParseLimits) throws(DomainXMLError) {
        let root: XMLElement
        do { root = try XMLTreeParser.parse(text, limits: limits) } catch { throw DomainXMLError(.malformed, line: error.line, error.message) }
        guard root.name == "snapshots" else { throw DomainXMLError(.invalid, line: root.line, "expecting <snapshots>") }
        for element in root.elements(named: "domainsnapshot") {
            add(try DomainSnapshot(element, mode: .redefine, now: 0))
        }
        setCurrent(root[attribute: "current"])
    }
}

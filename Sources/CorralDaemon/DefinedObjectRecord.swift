/// A driver object with libvirt's pair of definitions (`virNetworkObj`, `virStoragePoolObj`): the
/// one in use, and a persistent one given while the object ran, which takes over at its next stop.
protocol DefinedObjectRecord {
    associatedtype Definition

    /// The definition in use (the running one while active).
    var definition: Definition { get set }
    /// A definition given while the object ran (libvirt's `newDef`).
    var pendingDefinition: Definition? { get set }
    var isActive: Bool { get }
    var isPersistent: Bool { get set }
}

extension DefinedObjectRecord {
    /// The definition a stop leaves (what `--inactive` shows).
    var inactiveDefinition: Definition { pendingDefinition ?? definition }

    /// A new persistent definition (define): in use at once when the object is inactive, at its
    /// next stop when it runs.
    mutating func assignPersistent(_ new: Definition) {
        if isActive {
            pendingDefinition = new
        } else {
            definition = new
        }
        isPersistent = true
    }

    /// A definition for one run (create over an inactive persistent object, or the live
    /// definition found at a restart): the persistent one waits for the next stop.
    mutating func runOnce(_ live: Definition) {
        pendingDefinition = inactiveDefinition
        definition = live
    }

    /// After a stop: a pending persistent definition takes over.
    mutating func applyPendingDefinition() {
        if let pending = pendingDefinition {
            definition = pending
            pendingDefinition = nil
        }
    }
}

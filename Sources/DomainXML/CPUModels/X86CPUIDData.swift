/// One CPUID output register.
public enum X86CPUIDRegister: String, Sendable, CaseIterable, Hashable {
    case eax, ebx, ecx, edx
}

/// A set of x86 CPUID feature bits: for each leaf (EAX input), subleaf (ECX input) and output
/// register, a mask (libvirt's `virCPUx86Data`, without MSRs).
public struct X86CPUIDData: Sendable, Equatable {
    /// Where a mask lives in CPUID.
    public struct Location: Sendable, Hashable {
        public var leaf: UInt32
        public var subleaf: UInt32
        public var register: X86CPUIDRegister

        public init(leaf: UInt32, subleaf: UInt32, register: X86CPUIDRegister) {
            self.leaf = leaf
            self.subleaf = subleaf
            self.register = register
        }
    }

    /// The bits set, by location; no location maps to 0.
    public private(set) var masks: [Location: UInt32] = [:]

    public init() {}

    /// Sets `mask`'s bits at `location`.
    public mutating func add(_ mask: UInt32, at location: Location) {
        guard mask != 0 else { return }
        masks[location, default: 0] |= mask
    }

    /// Sets every bit of `other`.
    public mutating func add(_ other: X86CPUIDData) {
        for (location, mask) in other.masks { add(mask, at: location) }
    }

    /// Clears every bit of `other`.
    public mutating func subtract(_ other: X86CPUIDData) {
        for (location, mask) in other.masks {
            guard let current = masks[location] else { continue }
            let remaining = current & ~mask
            masks[location] = remaining == 0 ? nil : remaining
        }
    }

    /// Whether every bit of `other` is set here (libvirt's `x86DataIsSubset(self, other)`).
    public func contains(_ other: X86CPUIDData) -> Bool {
        other.masks.allSatisfy { location, mask in (masks[location] ?? 0) & mask == mask }
    }

    public var isEmpty: Bool { masks.isEmpty }
}

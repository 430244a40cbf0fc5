/// One CPUID output register.
public enum X86CPUIDRegister: String, Sendable, CaseIterable, Hashable {
    case eax, ebx, ecx, edx
}

/// The half of a 64-bit model-specific register a mask applies to (libvirt's map gives `eax`
/// for the low 32 bits and `edx` for the high).
public enum X86MSRHalf: String, Sendable, CaseIterable, Hashable {
    case eax, edx
}

/// A set of x86 feature bits: for each CPUID leaf (EAX input), subleaf (ECX input) and output
/// register a mask, and for each model-specific register half a mask (libvirt's
/// `virCPUx86Data`).
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

    /// Where a mask lives in a model-specific register.
    public struct MSRLocation: Sendable, Hashable {
        public var index: UInt32
        public var half: X86MSRHalf

        public init(index: UInt32, half: X86MSRHalf) {
            self.index = index
            self.half = half
        }
    }

    /// The CPUID bits set, by location; no location maps to 0.
    public private(set) var masks: [Location: UInt32] = [:]
    /// The model-specific register bits set, by location; no location maps to 0.
    public private(set) var msrMasks: [MSRLocation: UInt32] = [:]

    public init() {}

    /// Sets `mask`'s bits at `location`.
    public mutating func add(_ mask: UInt32, at location: Location) {
        guard mask != 0 else { return }
        masks[location, default: 0] |= mask
    }

    /// Sets `mask`'s bits at the model-specific register `location`.
    public mutating func add(_ mask: UInt32, at location: MSRLocation) {
        guard mask != 0 else { return }
        msrMasks[location, default: 0] |= mask
    }

    /// Sets every bit of `other`.
    public mutating func add(_ other: X86CPUIDData) {
        for (location, mask) in other.masks { add(mask, at: location) }
        for (location, mask) in other.msrMasks { add(mask, at: location) }
    }

    /// Clears every bit of `other`.
    public mutating func subtract(_ other: X86CPUIDData) {
        for (location, mask) in other.masks {
            guard let current = masks[location] else { continue }
            let remaining = current & ~mask
            masks[location] = remaining == 0 ? nil : remaining
        }
        for (location, mask) in other.msrMasks {
            guard let current = msrMasks[location] else { continue }
            let remaining = current & ~mask
            msrMasks[location] = remaining == 0 ? nil : remaining
        }
    }

    /// Whether every bit of `other` is set here (libvirt's `x86DataIsSubset(self, other)`).
    public func contains(_ other: X86CPUIDData) -> Bool {
        other.masks.allSatisfy { location, mask in (masks[location] ?? 0) & mask == mask }
            && other.msrMasks.allSatisfy { location, mask in (msrMasks[location] ?? 0) & mask == mask }
    }

    /// The bits set both here and in `other`.
    public func intersection(_ other: X86CPUIDData) -> X86CPUIDData {
        var common = X86CPUIDData()
        for (location, mask) in masks { common.add(mask & (other.masks[location] ?? 0), at: location) }
        for (location, mask) in msrMasks { common.add(mask & (other.msrMasks[location] ?? 0), at: location) }
        return common
    }

    public var isEmpty: Bool { masks.isEmpty && msrMasks.isEmpty }
}

import Synchronization

/// Where normalisation takes the random bytes of generated UUIDs and MAC addresses: the system's
/// generator, or (for tests and golden files) a seeded one, so that normalising the same
/// document gives the same result.
public struct RandomSource: Sendable {
    private let nextWord: @Sendable () -> UInt64

    /// A source from a function giving 64 random bits a call.
    public init(_ nextWord: @escaping @Sendable () -> UInt64) { self.nextWord = nextWord }

    /// The system's random number generator.
    public static let system = RandomSource { UInt64.random(in: .min ... .max) }

    /// A deterministic source: SplitMix64 from `seed`.
    public static func seeded(_ seed: UInt64) -> RandomSource {
        let state = Mutex(seed)
        return RandomSource {
            state.withLock { state in
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
        }
    }

    /// `count` random bytes.
    public func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            var word = nextWord()
            for _ in 0..<min(8, count - out.count) {
                out.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return out
    }
}

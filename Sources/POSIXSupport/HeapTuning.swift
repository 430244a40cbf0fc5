import CProcessDescriptors

/// The C heap of a long-running daemon with a few busy threads: glibc gives each thread that
/// allocates concurrently an arena of its own (up to 8 per core), and memory freed inside an
/// arena stays mapped until the arena is trimmed. Both inflate the resident size of a daemon
/// that spends its life idle between bursts (the emulator probe alone leaves ~15 MB behind).
public enum HeapTuning {
    /// Caps the number of malloc arenas; call before other threads start.
    public static func limitArenas(to count: Int32) {
        _ = corral_limit_malloc_arenas(count)
    }

    /// Hands the heap's free pages back to the kernel (every arena).
    public static func returnFreeMemory() {
        _ = corral_trim_heap()
    }
}

import CorralJSON

/// libvirt's encoding of an emulator version (major × 1,000,000 + minor × 1,000 + micro), read
/// from a `query-version` reply. Components outside what the encoding can hold (negative, or
/// past 999 for minor and micro, or past 18 million for major) count as 0: a reply is outside
/// data and never traps.
enum QMPVersionNumber {
    static func encode(_ reply: JSONValue) -> UInt64 {
        let qemu = reply["qemu"]
        func component(_ name: String, below limit: UInt64) -> UInt64 {
            guard let value = qemu?[name]?.uint64Value, value < limit else { return 0 }
            return value
        }
        return component("major", below: 18_000_000) * 1_000_000 + component("minor", below: 1000) * 1000 + component("micro", below: 1000)
    }
}

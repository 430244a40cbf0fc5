/// libvirt's wire limits (`virnetprotocol.x`, `remote_protocol.x`).
public enum RPCLimits {
    /// `VIR_NET_MESSAGE_MAX`: the largest header plus payload, not counting the length word (32 MiB).
    public static let messageMaximum = 33_554_432
    /// `VIR_NET_MESSAGE_LEN_MAX`: the size of the length word.
    public static let lengthWordSize = 4
    /// `VIR_NET_MESSAGE_HEADER_MAX`: the size of the header.
    public static let headerSize = 24
    /// The largest whole packet: the length word plus ``messageMaximum``.
    public static let packetMaximum = lengthWordSize + messageMaximum
    /// `VIR_NET_MESSAGE_STRING_MAX` / `REMOTE_STRING_MAX`: the longest string (4 MiB).
    public static let stringMaximum = 4_194_304
    /// `VIR_NET_MESSAGE_NUM_FDS_MAX`.
    public static let fileDescriptorsMaximum = 32
    /// `REMOTE_DOMAIN_LIST_MAX`.
    public static let domainListMaximum = 16_384
}

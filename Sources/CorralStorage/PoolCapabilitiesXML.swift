/// The storage pool capabilities document (`virConnectGetStoragePoolCapabilities`): every pool
/// type libvirt knows, `supported='yes'` only for those Corral has a backend for, with the source
/// and volume formats each accepts.
public enum PoolCapabilitiesXML {
    /// The document.
    public static func format() -> String {
        var out = "<storagepoolCapabilities>\n"
        let order: [PoolType] = [.dir, .fs, .netfs, .logical, .disk, .iscsi, .iscsiDirect, .scsi, .mpath, .rbd, .sheepdog, .gluster, .zfs, .vstorage]
        for type in order {
            out += "  <pool type='\(type.rawValue)' supported='\(type.isSupported ? "yes" : "no")'>\n"
            if type.isSupported {
                if let formats = type.sourceFormats, let defaultFormat = type.defaultSourceFormat {
                    out += "    <poolOptions>\n"
                    out += "      <defaultFormat type='\(defaultFormat)'/>\n"
                    out += "      <enum name='sourceFormatType'>\n"
                    for format in formats { out += "        <value>\(format)</value>\n" }
                    out += "      </enum>\n"
                    out += "    </poolOptions>\n"
                }
                if type.isDirectoryBased {
                    out += "    <volOptions>\n"
                    out += "      <defaultFormat type='raw'/>\n"
                    out += "      <enum name='targetFormatType'>\n"
                    for format in VolumeFormat.allCases { out += "        <value>\(format.rawValue)</value>\n" }
                    out += "      </enum>\n"
                    out += "    </volOptions>\n"
                }
            }
            out += "  </pool>\n"
        }
        return out + "</storagepoolCapabilities>\n"
    }
}

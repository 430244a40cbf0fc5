#if canImport(Glibc)
import Glibc
#endif

/// `strerror` as a Swift string.
enum SystemErrorText {
    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

import CProcessDescriptors
import Glibc

/// The daemon's own machine code in memory. corrald is one large static executable; the pages of
/// it that starting up touched (the emulator probe, recovery, the libraries' initialisers) stay
/// resident, and the kernel maps 16 pages around each one it faults in, so a fresh daemon holds
/// ~20 MB of its executable that serving calls never touches again.
public enum ResidentCode {
    /// Asks the kernel to reclaim the executable's read-only pages now (`MADV_PAGEOUT`); the ones
    /// serving needs come back on first use. Returns the bytes advised (0 when the kernel or the
    /// maps file says no: this is only ever a saving, never needed).
    @discardableResult
    public static func releaseExecutablePages() -> Int {
        guard let executable = executablePath(), let maps = readMaps() else { return 0 }
        var advised = 0
        for mapping in ExecutableMapping.parse(maps) where mapping.path == executable && !mapping.isWritable {
            guard let start = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            // No read-ahead when a page comes back: only what serving touches returns.
            _ = corral_advise_random(start, UInt(mapping.length))
            if corral_page_out(start, UInt(mapping.length)) == 0 { advised += mapping.length }
        }
        return advised
    }

    private static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func readMaps() -> String? {
        let descriptor = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// One line of `/proc/self/maps` that maps a file.
struct ExecutableMapping: Equatable {
    var start: UInt
    var length: Int
    var isWritable: Bool
    var path: String

    /// The file mappings in `/proc/<pid>/maps` text (`start-end perms offset dev inode path`);
    /// lines that do not parse are skipped.
    static func parse(_ maps: String) -> [ExecutableMapping] {
        maps.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6 else { return nil }
            // The path column is padded with spaces; a path may hold spaces of its own.
            let path = String(fields[5].drop { $0 == " " })
            guard path.hasPrefix("/") else { return nil }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start,
                  end - start <= UInt(Int.max)
            else { return nil }
            return ExecutableMapping(
                start: start, length: Int(end - start), isWritable: fields[1].contains("w"),
                path: path)
        }
    }
}

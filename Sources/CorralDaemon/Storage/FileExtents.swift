import Glibc

/// Where a sparse file's data and holes are (`lseek` with `SEEK_DATA`/`SEEK_HOLE`, which Swift's
/// Glibc module does not export).
enum FileExtents {
    /// Linux's `SEEK_DATA`.
    static let seekData: Int32 = 3
    /// Linux's `SEEK_HOLE`.
    static let seekHole: Int32 = 4

    /// What lies at `offset` in the file: data up to the returned end, or a hole up to it.
    enum Extent: Equatable {
        case data(end: Int64)
        case hole(end: Int64)
        case endOfFile
    }

    /// The extent at `offset`, within `limit` (the end of what is wanted).
    static func extent(_ fd: Int32, at offset: Int64, limit: Int64) -> Extent {
        guard offset < limit else { return .endOfFile }
        let data = lseek(fd, off_t(offset), seekData)
        if data < 0 {
            // ENXIO: only a hole from here to the end of the file.
            if errno == ENXIO { return .hole(end: limit) }
            return .data(end: limit)  // no support: treat everything as data
        }
        if data > offset { return .hole(end: min(Int64(data), limit)) }
        let hole = lseek(fd, off_t(offset), seekHole)
        return .data(end: hole < 0 ? limit : min(Int64(hole), limit))
    }
}

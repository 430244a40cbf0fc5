import CFileExtents
import Glibc

/// Where a sparse file's data and holes are, and making holes (`lseek` with `SEEK_DATA`/
/// `SEEK_HOLE` and `fallocate`'s hole punching, through the `CFileExtents` shim).
enum FileExtents {
    /// Deallocates a range, keeping the file's size (it reads as zeros). Returns whether it worked.
    static func punchHole(_ fd: Int32, offset: Int64, length: Int64) -> Bool {
        corral_punch_hole(fd, off_t(offset), off_t(length)) == 0
    }

    static func seekData(_ fd: Int32, _ offset: Int64) -> Int64 { Int64(corral_seek_data(fd, off_t(offset))) }
    static func seekHole(_ fd: Int32, _ offset: Int64) -> Int64 { Int64(corral_seek_hole(fd, off_t(offset))) }

    /// What lies at `offset` in the file: data up to the returned end, or a hole up to it.
    enum Extent: Equatable {
        case data(end: Int64)
        case hole(end: Int64)
        case endOfFile
    }

    /// The extent at `offset`, within `limit` (the end of what is wanted).
    static func extent(_ fd: Int32, at offset: Int64, limit: Int64) -> Extent {
        guard offset < limit else { return .endOfFile }
        let data = seekData(fd, offset)
        if data < 0 {
            // ENXIO: only a hole from here to the end of the file.
            if errno == ENXIO { return .hole(end: limit) }
            return .data(end: limit)  // no support: treat everything as data
        }
        if data > offset { return .hole(end: min(Int64(data), limit)) }
        let hole = seekHole(fd, offset)
        return .data(end: hole < 0 ? limit : min(Int64(hole), limit))
    }
}

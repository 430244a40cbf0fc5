@testable import CorralDaemon
import Foundation
import Testing

@Suite("Definition journal")
struct DefinitionJournalTests {
    static func scratch() -> String {
        let directory = NSTemporaryDirectory() + "definition-journal-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    static func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }


    /// `record` appended to `segment` where the journal writes it: right after the header, or
    /// at the next block boundary.
    static func append(_ record: [UInt8], to segment: inout [UInt8]) {
        if segment.count > JournalFormat.headerSize {
            segment += [UInt8](repeating: 0, count: JournalFormat.aligned(segment.count) - segment.count)
        }
        segment += record
    }

    @Test("records read back in order; a torn, corrupted or earlier-epoch record ends the segment")
    func format() throws {
        let changes: [JournalChange] = [
            .write(name: "a", contents: "<domain>ä</domain>"), .remove(name: "b"), .keep(name: "c"), .write(name: "d", contents: ""),
        ]
        var segment = JournalFormat.header(epoch: 7)
        for change in changes { Self.append(JournalFormat.record(change, epoch: 7), to: &segment) }
        // Each record after the first starts a block.
        #expect(segment.count > 3 * JournalFormat.blockSize && segment.count < 4 * JournalFormat.blockSize)
        let padded = segment + [UInt8](repeating: 0, count: 100)
        #expect(JournalFormat.changes(segment: padded)?.epoch == 7)
        #expect(JournalFormat.changes(segment: padded)?.changes == changes)
        // Torn: the last record cut short.
        #expect(JournalFormat.changes(segment: Array(segment.dropLast()))?.changes == Array(changes.dropLast()))
        // A record written under another epoch (a segment's earlier use) ends it.
        var stale = JournalFormat.header(epoch: 7) + JournalFormat.record(changes[0], epoch: 7)
        Self.append(JournalFormat.record(changes[1], epoch: 6), to: &stale)
        #expect(JournalFormat.changes(segment: stale)?.changes == [changes[0]])
        // Back to back, the second record is not where the journal puts it: not read.
        #expect(JournalFormat.changes(segment: JournalFormat.header(epoch: 7) + changes.flatMap { JournalFormat.record($0, epoch: 7) })?.changes == [changes[0]])
        // An older daemon's segment ("CORRALJ1": records back to back) is still read.
        var unaligned = JournalFormat.unalignedMagic + withUnsafeBytes(of: UInt64(7).littleEndian, Array.init)
        unaligned += withUnsafeBytes(of: CRC32.checksum(unaligned).littleEndian, Array.init)
        unaligned += [UInt8](repeating: 0, count: JournalFormat.headerSize - unaligned.count) + changes.flatMap { JournalFormat.record($0, epoch: 7) }
        #expect(JournalFormat.changes(segment: unaligned)?.changes == changes)
        // One flipped bit in a body.
        var flipped = segment
        flipped[JournalFormat.headerSize + 12] ^= 1
        #expect(JournalFormat.changes(segment: flipped)?.changes == [])
        // A length larger than the segment, and one too small for a body.
        for length: UInt32 in [UInt32.max, 0x7FFF_FFFF, 4, 0] {
            var bad = JournalFormat.header(epoch: 1) + withUnsafeBytes(of: length.littleEndian, Array.init) + [0, 0, 0, 0, 1]
            bad += [UInt8](repeating: 0, count: 16)
            #expect(JournalFormat.changes(segment: bad)?.changes == [])
        }
        // No header, or a damaged one: no records at all.
        #expect(JournalFormat.changes(segment: [UInt8](repeating: 0, count: 4096)) == nil)
        var header = segment
        header[9] ^= 0x80
        #expect(JournalFormat.changes(segment: header) == nil)
        // A definition that is not UTF-8 (the journal writes only text) ends it, even with its
        // checksum right.
        let body: [UInt8] = [1] + withUnsafeBytes(of: UInt32(1).littleEndian, Array.init) + Array("a".utf8) + [0xFF, 0xFE]
        let crc = CRC32.checksum(body, continuing: CRC32.checksum(withUnsafeBytes(of: UInt64(1).littleEndian, Array.init)))
        let notText = JournalFormat.header(epoch: 1) + withUnsafeBytes(of: UInt32(body.count).littleEndian, Array.init) + withUnsafeBytes(of: crc.littleEndian, Array.init) + body
        #expect(JournalFormat.changes(segment: notText)?.changes == [])
        #expect(JournalFormat.changes(segment: JournalFormat.header(epoch: 1) + JournalFormat.record(.write(name: "a", contents: "ok"), epoch: 1))?.changes == [.write(name: "a", contents: "ok")])
        // A name with a slash is not a definition's.
        #expect(JournalFormat.changes(segment: JournalFormat.header(epoch: 1) + JournalFormat.record(.remove(name: "../x"), epoch: 1))?.changes == [])
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test("the CRC eight bytes a step equals the CRC a byte a step, for every length, start and continuation")
    func crcSlicing() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // Not contiguous (a lazy map): the byte-at-a-time path.
        #expect(CRC32.checksum(Array("123456789".utf8).lazy.map { $0 }) == 0xCBF4_3926)
        for start in 0..<9 {
            for end in stride(from: start, through: bytes.count, by: 7) {
                let slice = bytes[start..<end]
                #expect(CRC32.checksum(slice) == CRC32.bytewise(slice))
                #expect(CRC32.checksum(slice, continuing: 0x1234_5678) == CRC32.bytewise(slice, continuing: 0x1234_5678))
            }
        }
        // In two pieces, continued, equals in one.
        #expect(CRC32.checksum(bytes[100...], continuing: CRC32.checksum(bytes[..<100])) == CRC32.checksum(bytes))
    }

    @Test("the segments take turns, and a turn waits until the other segment's changes are in their files")
    func segments() {
        var segments = JournalSegments(capacity: 1000, epoch: 5, alignment: 1)
        let first = segments.placement(size: 400)
        #expect(first == .append(segment: 0, offset: 64, epoch: 5, header: false, sequence: 1))
        segments.recorded(first, size: 400)
        let second = segments.placement(size: 400)
        #expect(second == .append(segment: 0, offset: 464, epoch: 5, header: false, sequence: 2))
        segments.recorded(second, size: 400)
        // Full: the other segment starts epoch 6 (it holds nothing yet).
        let third = segments.placement(size: 400)
        #expect(third == .append(segment: 1, offset: 64, epoch: 6, header: true, sequence: 3))
        segments.recorded(third, size: 400)
        segments.recorded(segments.placement(size: 400), size: 400)
        // Full again, and segment 0's changes 1 and 2 are not flushed in their files yet.
        #expect(segments.placement(size: 400) == .waitForMaterializer)
        #expect(!segments.retiringSegmentNeedsFlush)
        segments.written(through: 1)
        segments.flushed(through: 1)
        #expect(segments.placement(size: 400) == .waitForMaterializer)
        segments.written(through: 2)
        #expect(segments.retiringSegmentNeedsFlush)
        #expect(segments.placement(size: 400) == .waitForMaterializer)
        // Flushing never runs ahead of writing.
        segments.flushed(through: 4)
        #expect(segments.flushed == 2)
        #expect(!segments.retiringSegmentNeedsFlush)
        #expect(segments.placement(size: 400) == .append(segment: 0, offset: 64, epoch: 7, header: true, sequence: 5))
        #expect(!segments.isWritten)
        segments.written(through: 4)
        #expect(segments.isWritten)
        #expect(segments.placement(size: 937) == .tooLarge)
        #expect(segments.placement(size: 936) != .tooLarge)
        // Block-aligned: a record after the first starts at the next block boundary.
        var aligned = JournalSegments(capacity: 3 * 4096, epoch: 1)
        aligned.recorded(aligned.placement(size: 100), size: 100)
        #expect(aligned.placement(size: 4096) == .append(segment: 0, offset: 4096, epoch: 1, header: false, sequence: 2))
        aligned.recorded(aligned.placement(size: 4096), size: 4096)
        #expect(aligned.placement(size: 1) == .append(segment: 0, offset: 8192, epoch: 1, header: false, sequence: 3))
        // 4,097 bytes do not fit in the last block: the other segment begins.
        #expect(aligned.placement(size: 4096) == .append(segment: 0, offset: 8192, epoch: 1, header: false, sequence: 3))
        #expect(aligned.placement(size: 4097) == .append(segment: 1, offset: 64, epoch: 2, header: true, sequence: 3))
    }

    @Test("a segment file is written in whole zero-padded blocks, the same with direct I/O and through the page cache")
    func segmentFileModes() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var images: [[UInt8]] = []
        for direct in [true, false] {
            let path = directory + "/segment-\(direct)"
            do {
                let file = try JournalSegmentFile(path: path, initialSize: 8192, directory: directory, direct: direct)
                // The scratch directory is on a filesystem that takes direct I/O (ext4 or tmpfs here).
                #expect(file.isDirect == direct)
                #expect(file.size == 8192)
                try file.write(JournalFormat.header(epoch: 3) + JournalFormat.record(.remove(name: "a"), epoch: 3), at: 0)
                try file.grow(to: 3 * 4096 + 1)
                #expect(file.size == 4 * 4096)
                try file.write(JournalFormat.record(.write(name: "b", contents: String(repeating: "A", count: 5000)), epoch: 3), at: 4096)
                try file.flush()
                #expect(file.size == 4 * 4096)
            }
            let bytes = try #require(FileManager.default.contents(atPath: path))
            images.append(Array(bytes))
            #expect(JournalFormat.changes(segment: Array(bytes))?.changes == [.remove(name: "a"), .write(name: "b", contents: String(repeating: "A", count: 5000))])
        }
        #expect(images[0] == images[1])
    }

    @Test("what a killed daemon journaled but never wrote to its files is there after a restart")
    func replayAfterKill() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true, materializes: false)
            try store.write(name: "a", xml: "<domain>a1</domain>")
            try store.write(name: "b", xml: "<domain>b1</domain>")
            try store.write(name: "a", xml: "<domain>a2</domain>")
            try store.write(name: "c", xml: "<domain>c1</domain>")
            try store.remove(name: "c")
            #expect(store.loadAll().isEmpty)
        }
        let restarted = try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true, materializes: false)
        let loaded = restarted.loadAll()
        #expect(loaded.map(\.path) == [directory + "/a.xml", directory + "/b.xml"])
        #expect(loaded.map(\.xml) == ["<domain>a2</domain>", "<domain>b1</domain>"])
        // A second restart replays nothing again over later changes.
        try restarted.write(name: "b", xml: "<domain>b2</domain>")
        let again = try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true, materializes: false)
        #expect(again.loadAll().map(\.xml) == ["<domain>a2</domain>", "<domain>b2</domain>"])
    }

    @Test("the materializer writes every change to its file; many turns of small segments lose nothing")
    func materializesAcrossTurns() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DefinitionStore(
            directory: directory, autostartDirectory: directory + "/autostart", journaled: true, journalCapacity: 4096)
        var expected: [String: String] = [:]
        for index in 0..<300 {
            let name = "d\(index % 37)", xml = "<domain><name>\(name)</name><index>\(index)</index>" + String(repeating: " ", count: index % 200) + "</domain>"
            if index % 11 == 10 {
                try store.remove(name: name)
                expected[name] = nil
            } else {
                try store.write(name: name, xml: xml)
                expected[name] = xml
            }
        }
        defer { store.journal?.close() }
        #expect(store.journal?.waitUntilWritten() == true)
        let files = Dictionary(uniqueKeysWithValues: store.loadAll().map { (($0.path as NSString).lastPathComponent.replacingOccurrences(of: ".xml", with: ""), $0.xml ?? "") })
        #expect(files == expected)
        // And a restart's replay of whatever the segments still hold changes nothing.
        let restarted = try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true, journalCapacity: 4096, materializes: false)
        #expect(Dictionary(uniqueKeysWithValues: restarted.loadAll().map { (($0.path as NSString).lastPathComponent.replacingOccurrences(of: ".xml", with: ""), $0.xml ?? "") }) == expected)
    }

    @Test("a definition larger than a segment is written directly, and an older journaled one is not replayed over it")
    func tooLarge() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let large = "<domain>" + String(repeating: "x", count: 10_000) + "</domain>"
        do {
            let store = try DefinitionStore(
                directory: directory, autostartDirectory: directory + "/autostart", journaled: true, journalCapacity: 4096)
            try store.write(name: "a", xml: "<domain>small</domain>")
            defer { store.journal?.close() }
            try store.write(name: "a", xml: large)
            #expect(Self.contents(directory + "/a.xml") == large)
        }
        _ = try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true, journalCapacity: 4096, materializes: false)
        #expect(Self.contents(directory + "/a.xml") == large)
    }

    @Test("a change whose file cannot be written stays journaled, and is written once it can be")
    func materializerFailure() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/files"
        let path: @Sendable (String) -> String = { target + "/" + $0 + ".xml" }
        do {
            let journal = try DefinitionJournal(directory: directory, capacity: 4096, path: path)
            defer { journal.close() }
            try journal.record(.write(name: "a", contents: "<domain/>"))
            #expect(!journal.waitUntilWritten(timeout: 0.5))
        }
        // Still there at the next start, which writes it once the directory exists.
        #expect(throws: StoreError.self) { try DefinitionJournal(directory: directory, capacity: 4096, path: path, materializes: false) }
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        _ = try DefinitionJournal(directory: directory, capacity: 4096, path: path, materializes: false)
        #expect(Self.contents(target + "/a.xml") == "<domain/>")
    }

    @Test("a segment's file grows with written zeros ahead of its records; an idle journal's changes reach their files unasked")
    func growthAndIdle() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true)
        defer { store.journal?.close() }
        let size = { (try? FileManager.default.attributesOfItem(atPath: directory + "/.journal-0")[.size] as? Int) ?? 0 }
        #expect(size() == DefinitionJournal.growth)
        let body = String(repeating: "x", count: 2000)
        var end = JournalFormat.headerSize
        // A record a block: enough records for the steps to double up to the largest.
        let count = 3 * DefinitionJournal.largestGrowth / JournalFormat.blockSize / 2
        for index in 0..<count {
            let xml = "<domain>\(index)\(body)</domain>"
            try store.write(name: "g\(index)", xml: xml)
            end = (index == 0 ? end : JournalFormat.aligned(end)) + JournalFormat.record(.write(name: "g\(index)", contents: xml), epoch: 1).count
        }
        // Steps that doubled the file (64 KiB, 128 KiB, … 1 MiB), then whole largest steps; the
        // last one covering the last record.
        #expect(size() % DefinitionJournal.growth == 0 && size() >= end && size() - end < DefinitionJournal.largestGrowth)
        #expect(size() == 2 * DefinitionJournal.largestGrowth)
        // Nobody waits: the files come once the journal has been idle a moment.
        let deadline = Date(timeIntervalSinceNow: 10)
        while store.loadAll().count < count && Date() < deadline { usleep(20_000) }
        #expect(store.loadAll().count == count)
        #expect(store.loadAll().first { $0.path.hasSuffix("/g7.xml") }?.xml == "<domain>7\(body)</domain>")
    }

    @Test("an orderly stop leaves every file written and flushed and the journal empty: the next start replays nothing")
    func finishEmptiesTheJournal() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true)
        for index in 0..<20 { try store.write(name: "f\(index)", xml: "<domain>\(index)</domain>") }
        try store.remove(name: "f3")
        #expect(store.journal?.finish(timeout: 10) == true)
        #expect(store.loadAll().count == 19)
        #expect(Self.contents(directory + "/f7.xml") == "<domain>7</domain>")
        for segment in 0..<2 {
            let bytes = try #require(FileManager.default.contents(atPath: directory + "/.journal-\(segment)"))
            #expect(JournalFormat.changes(segment: Array(bytes)) == nil)
        }
        #expect(throws: StoreError.self) { try store.write(name: "late", xml: "<domain/>") }
        // Nothing replayed: a file removed behind the daemon's back stays removed.
        unlink(directory + "/f7.xml")
        _ = try DefinitionStore(directory: directory, autostartDirectory: directory + "/autostart", journaled: true, materializes: false)
        #expect(Self.contents(directory + "/f7.xml") == nil)
    }
}

import CorralClient
import CorralProtocol
import Foundation
import POSIXSupport

/// Volume upload, download and clone: corrald against libvirtd with the same client code, the
/// same files and the same directories, and against `cp` and `qemu-img convert` on those files.
enum StorageBenchmark {
    struct Target {
        var name: String
        var uri: String
        var pool: String
        var directory: String
    }

    /// - Parameter directory: where the images and pools live (the same for every target).
    static func run(daemon: BenchDaemon, libvirtd: BenchLibvirtd?, sizeMiB: Int, directory: String) async throws {
        let work = directory + "/corral-storage-bench-\(getpid())"
        let local = work + "/local"
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let size = UInt64(sizeMiB) << 20
        let sparse = local + "/sparse.img", full = local + "/full.img"
        try writeImage(sparse, size: size, holes: true)
        try writeImage(full, size: size, holes: false)
        print("Storage in \(directory) (\(sizeMiB) MiB images; sparse: every other 64 MiB a hole; best of 3 runs, each after a sync with its source in the page cache; MB/s = 10^6 bytes of the image per second)")

        var targets = [Target(name: "corrald", uri: daemon.uri, pool: "bench", directory: work + "/corrald")]
        if let libvirtd { targets.append(Target(name: "libvirtd", uri: libvirtd.uri, pool: "corral-bench", directory: work + "/libvirtd")) }
        for target in targets { try await preparePool(target, size: size) }
        defer {
            for target in targets {
                _ = try? ChildProcess.run("/usr/bin/virsh", ["-c", target.uri, "pool-destroy", target.pool])
                _ = try? ChildProcess.run("/usr/bin/virsh", ["-c", target.uri, "pool-undefine", target.pool])
            }
        }

        // Each measurement three times, the daemons taking turns, each run after a sync and with
        // its source file read once before (in the page cache): the best run counts.
        var results: [String: [String: Double]] = [:]
        let measurements: [(String, (Target) -> (source: String, run: () async throws -> Double))] = [
            ("upload sparse", { t in (sparse, { try await transfer(t, file: sparse, upload: true, sparse: true) }) }),
            ("download sparse", { t in (t.directory + "/v.img", { try await transfer(t, file: local + "/down.img", upload: false, sparse: true) }) }),
            ("download sparse, discarded", { t in (t.directory + "/v.img", { try await transfer(t, file: nil, upload: false, sparse: true) }) }),
            ("upload full", { t in (full, { try await transfer(t, file: full, upload: true, sparse: false) }) }),
            ("download full", { t in (t.directory + "/v.img", { try await transfer(t, file: local + "/down.img", upload: false, sparse: false) }) }),
            ("download full, discarded", { t in (t.directory + "/v.img", { try await transfer(t, file: nil, upload: false, sparse: false) }) }),
            ("clone", { t in (t.directory + "/v.img", { try await clone(t) }) }),
        ]
        // The tools Corral is held to run in the same rounds: cp beside the full upload,
        // qemu-img convert beside the clone.
        var copy = Double.infinity, convert = Double.infinity
        for (key, make) in measurements {
            for _ in 0..<3 {
                for target in targets {
                    let (source, body) = make(target)
                    prepare(source)
                    let seconds = try await body()
                    unlink(local + "/down.img")
                    results[target.name, default: [:]][key] = min(results[target.name]?[key] ?? .infinity, seconds)
                }
                if key == "upload full" {
                    prepare(full)
                    copy = min(copy, try timeTool("/usr/bin/cp", ["--sparse=auto", full, work + "/corrald/cp-copy.img"], removing: work + "/corrald/cp-copy.img"))
                } else if key == "clone" {
                    prepare(work + "/corrald/v.img")
                    convert = min(convert, try timeTool(
                        "/usr/bin/qemu-img", ["convert", "-f", "raw", "-O", "raw", work + "/corrald/v.img", work + "/corrald/qi-copy.img"],
                        removing: work + "/corrald/qi-copy.img"))
                }
            }
        }
        let megabytes = Double(size) / 1e6
        print("transfer (Corral's client)        corrald MB/s   libvirtd MB/s   ratio")
        for key in ["upload sparse", "download sparse", "download sparse, discarded", "upload full", "download full", "download full, discarded"] {
            let ours = megabytes / results["corrald"]![key]!
            var line = key.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%12.0f", ours)
            if let theirs = results["libvirtd"]?[key] {
                let theirRate = megabytes / theirs
                line += String(format: "   %13.0f   %5.2fx", theirRate, ours / theirRate)
            }
            print(line)
        }
        let upload = megabytes / results["corrald"]!["upload full"]!
        let cpRate = megabytes / copy
        print(String(format: "upload full vs cp --sparse=auto (%.0f MB/s): %.2fx  (goal >= 0.70x)", cpRate, upload / cpRate))
        let cloneSeconds = results["corrald"]!["clone"]!
        print(String(format: "vol-clone %.2f s vs qemu-img convert %.2f s: %.2fx the time  (goal <= 1.10x)", cloneSeconds, convert, cloneSeconds / convert))
        if let theirs = results["libvirtd"]?["clone"] {
            print(String(format: "vol-clone on libvirtd: %.2f s", theirs))
        }
    }

    /// Writes `size` bytes: a repeated random MiB, with every other 64 MiB left a hole when asked.
    static func writeImage(_ path: String, size: UInt64, holes: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError("cannot create \(path)") }
        defer { close(fd) }
        let block = (0..<(1 << 20)).map { _ in UInt8.random(in: 1...255) }
        var offset: UInt64 = 0
        while offset < size {
            let inHole = holes && (offset >> 26) % 2 == 1
            if !inHole {
                let written = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
                guard written == block.count else { throw BenchError("cannot write \(path)") }
            }
            offset += UInt64(block.count)
        }
        guard ftruncate(fd, off_t(size)) == 0 else { throw BenchError("cannot size \(path)") }
    }

    static func preparePool(_ target: Target, size: UInt64) async throws {
        try await CorralConnection.withConnection(to: target.uri) { connection in
            let xml = "<pool type='dir'><name>\(target.pool)</name><target><path>\(target.directory)</path></target></pool>"
            let pool = try await connection.call(Remote.StoragePoolDefineXml.self, .init(xml: xml, flags: 0)).pool
            try await connection.call(Remote.StoragePoolBuild.self, .init(pool: pool, flags: 0))
            try await connection.call(Remote.StoragePoolCreate.self, .init(pool: pool, flags: 0))
            let volume = "<volume><name>v.img</name><capacity>\(size)</capacity><allocation>0</allocation></volume>"
            _ = try await connection.call(Remote.StorageVolCreateXml.self, .init(pool: pool, xml: volume, flags: 0))
        }
    }

    /// Seconds to move the whole image between `file` and the target's volume; with no file, a
    /// download is received and dropped (the daemon's own pace, not the client's disk).
    static func transfer(_ target: Target, file: String?, upload: Bool, sparse: Bool) async throws -> Double {
        try await CorralConnection.withConnection(to: target.uri) { connection in
            let volume = try await connection.storageVolume("v.img", pool: target.pool)
            guard let file else {
                let start = ContinuousClock.now
                let stream = try await connection.download(from: volume, sparse: sparse)
                while try await stream.receive() != nil {}
                try await stream.finish()
                return (ContinuousClock.now - start).seconds
            }
            let fd = upload ? open(file, O_RDONLY | O_CLOEXEC) : open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw BenchError("cannot open \(file)") }
            defer { close(fd) }
            let start = ContinuousClock.now
            if upload {
                let length = UInt64(lseek(fd, 0, SEEK_END))
                let stream = try await connection.upload(to: volume, sparse: sparse)
                _ = try await stream.sendFile(fd, length: length, sparse: sparse)
                try await stream.finish()
            } else {
                let stream = try await connection.download(from: volume, sparse: sparse)
                _ = try await stream.receiveFile(into: fd)
                try await stream.finish()
            }
            return (ContinuousClock.now - start).seconds
        }
    }

    /// Seconds for `vol-clone` of the volume (then the clone is deleted).
    static func clone(_ target: Target) async throws -> Double {
        try await CorralConnection.withConnection(to: target.uri) { connection in
            let source = try await connection.storageVolume("v.img", pool: target.pool)
            let pool = try await connection.storagePool(named: target.pool)
            let start = ContinuousClock.now
            let copy = try await connection.cloneVolume(source, into: pool, xml: "<volume><name>c.img</name><capacity>0</capacity></volume>")
            let seconds = (ContinuousClock.now - start).seconds
            try await connection.call(Remote.StorageVolDelete.self, .init(vol: copy, flags: 0))
            return seconds
        }
    }

    static func timeTool(_ executable: String, _ arguments: [String], removing path: String) throws -> Double {
        let start = ContinuousClock.now
        let result = try ChildProcess.run(executable, arguments)
        let seconds = (ContinuousClock.now - start).seconds
        unlink(path)
        guard result.status == 0 else { throw BenchError("\(executable) failed: \(result.standardError)") }
        return seconds
    }

    /// Before a run: no dirty pages (`sync`), so one run's writeback does not slow the next,
    /// and the source read once, so every target reads it from the page cache.
    static func prepare(_ source: String) {
        sync()
        let fd = open(source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}

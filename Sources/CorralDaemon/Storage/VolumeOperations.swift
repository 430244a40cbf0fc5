import CorralStorage
import Glibc
import POSIXSupport

/// Creating, cloning, resizing and wiping volumes in directory pools. Blocking; runs on
/// ``StorageWork``'s threads. Whatever fails half-way removes what it created.
enum VolumeOperations {
    /// `VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA`.
    static let preallocateMetadata: UInt32 = 1

    /// Creates the volume `definition` describes at `path` and describes the result.
    static func create(_ definition: VolumeDefinition, path: String, poolDirectory: String, flags: UInt32) throws(StorageError) -> VolumeDescription {
        let format = definition.format ?? (definition.type == .dir ? .dir : .raw)
        let mode = definition.permissions.mode ?? DirectoryPoolBackend.defaultVolumeMode
        var info = stat()
        if lstat(path, &info) == 0 {
            throw StorageError(.operationInvalid, "volume target path '\(path)' already exists")
        }
        return try making(definition, path: path, poolDirectory: poolDirectory) { () throws(StorageError) in
            switch format {
            case .dir:
                guard mkdir(path, mode_t(mode)) == 0 else { throw StorageError.system("cannot create path '\(path)'", errno: errno) }
            case .raw, .none:
                guard definition.backingPath == nil else {
                    throw StorageError(.configUnsupported, "backing storage not supported for raw volumes")
                }
                guard let capacity = definition.capacity else { throw StorageError(.xml, "missing capacity element") }
                if flags & preallocateMetadata != 0 {
                    throw StorageError(.configUnsupported, "metadata preallocation only available with qcow2")
                }
                try VolumeFiles.createRaw(path: path, capacity: capacity, allocation: definition.allocation ?? capacity, mode: mode_t(mode))
            case let format where format.isCreatableByQemuImg:
                var backing: (path: String, format: VolumeFormat)?
                if let backingPath = definition.backingPath {
                    guard format.supportsBackingStore else {
                        throw StorageError(.configUnsupported, "format \(format.rawValue) does not support backing files")
                    }
                    guard access(backingPath, R_OK) == 0 else {
                        throw StorageError.system("inaccessible backing store volume \(backingPath)", errno: errno)
                    }
                    backing = (backingPath, definition.backingFormat ?? VolumeFiles.probe(backingPath).format)
                }
                var options: [String] = []
                if format == .qcow2 {
                    if let compat = definition.compat { options.append("compat=" + compat) }
                    if definition.lazyRefcounts { options.append("lazy_refcounts=on") }
                    if flags & preallocateMetadata != 0 { options.append("preallocation=metadata") }
                } else if flags & preallocateMetadata != 0 {
                    throw StorageError(.configUnsupported, "metadata preallocation only available with qcow2")
                }
                try QemuImg.create(path: path, format: format, capacity: definition.capacity, backing: backing, options: options)
                _ = chmod(path, mode_t(mode))
            default:
                throw StorageError(.configUnsupported, "creating volumes of format '\(format.rawValue)' is not supported")
            }
            try VolumeFiles.applyOwnership(path: path, definition.permissions)
        }
    }

    /// Creates a volume as a copy of `source` (libvirt's create-from): `qemu-img convert` to the
    /// new format, grown to the new capacity when it is larger.
    static func clone(
        _ definition: VolumeDefinition, from source: VolumeDescription, path: String, poolDirectory: String, flags: UInt32
    ) throws(StorageError) -> VolumeDescription {
        var info = stat()
        if lstat(path, &info) == 0 {
            throw StorageError(.operationInvalid, "volume target path '\(path)' already exists")
        }
        guard source.type == .file || source.type == .block, let sourceFormat = source.format else {
            throw StorageError(.operationInvalid, "cannot clone volume '\(source.name)' of type \(source.type.rawValue)")
        }
        let format = definition.format ?? .raw
        guard format == .raw || format.isCreatableByQemuImg else {
            throw StorageError(.configUnsupported, "creating volumes of format '\(format.rawValue)' is not supported")
        }
        var options: [String] = []
        if format == .qcow2, flags & preallocateMetadata != 0 { options.append("preallocation=metadata") }
        if format == .qcow2, let compat = definition.compat { options.append("compat=" + compat) }
        return try making(definition, path: path, poolDirectory: poolDirectory) { () throws(StorageError) in
            if let capacity = definition.capacity, capacity > source.capacity {
                // A larger clone: make the image at its size, then copy into it (not every
                // format can be resized afterwards).
                if format == .raw {
                    try VolumeFiles.createRaw(path: path, capacity: capacity, allocation: 0, mode: 0o600)
                } else {
                    try QemuImg.create(path: path, format: format, capacity: capacity, backing: nil, options: options)
                }
                try QemuImg.convert(from: source.path, format: sourceFormat, to: path, format: format, options: options, intoExisting: true)
            } else {
                try QemuImg.convert(from: source.path, format: sourceFormat, to: path, format: format, options: options)
            }
            _ = chmod(path, mode_t(definition.permissions.mode ?? DirectoryPoolBackend.defaultVolumeMode))
            try VolumeFiles.applyOwnership(path: path, definition.permissions)
        }
    }

    /// Runs `steps`, which make the volume at `path`, and describes the result; whatever fails
    /// half-way removes what it made.
    private static func making(
        _ definition: VolumeDefinition, path: String, poolDirectory: String, _ steps: () throws(StorageError) -> Void
    ) throws(StorageError) -> VolumeDescription {
        do throws(StorageError) {
            try steps()
        } catch {
            removeHalfCreated(path)
            throw error
        }
        guard let volume = VolumeFiles.describe(name: definition.name, path: path, poolDirectory: poolDirectory) else {
            throw StorageError(.internalError, "volume '\(path)' vanished after creation")
        }
        return volume
    }

    private static func removeHalfCreated(_ path: String) {
        if unlink(path) != 0 && errno == EISDIR { rmdir(path) }
    }

    /// `VIR_STORAGE_VOL_RESIZE_*`.
    struct ResizeFlags: OptionSet, Sendable {
        let rawValue: UInt32
        static let allocate = ResizeFlags(rawValue: 1)
        static let delta = ResizeFlags(rawValue: 2)
        static let shrink = ResizeFlags(rawValue: 4)
    }

    /// Resizes a volume to `capacity` bytes (already absolute), as libvirt's checks allow.
    static func resize(_ volume: VolumeDescription, to capacity: UInt64, flags: ResizeFlags, available: UInt64) throws(StorageError) {
        if capacity < volume.capacity && !flags.contains(.shrink) {
            throw StorageError(.invalidArgument, "Can't shrink capacity below current capacity unless shrink flag explicitly specified")
        }
        if capacity < volume.allocation && volume.format == .raw {
            throw StorageError(.invalidArgument, "can't shrink capacity below existing allocation")
        }
        if flags.contains(.allocate), capacity > volume.capacity, capacity - volume.capacity > available {
            throw StorageError(.operationFailed, "Not enough space left in storage pool")
        }
        guard capacity <= UInt64(Int64.max) else { throw StorageError(.invalidArgument, "capacity too large") }
        switch volume.format {
        case .raw?:
            let fd = open(volume.path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StorageError.system("cannot open volume '\(volume.path)'", errno: errno) }
            defer { close(fd) }
            guard ftruncate(fd, off_t(capacity)) == 0 else { throw StorageError.system("cannot resize file '\(volume.path)'", errno: errno) }
            if flags.contains(.allocate), capacity > volume.capacity {
                let result = posix_fallocate(fd, off_t(volume.capacity), off_t(capacity - volume.capacity))
                if result != 0 { throw StorageError.system("cannot allocate space in '\(volume.path)'", errno: result) }
            }
        case let format? where format.isCreatableByQemuImg:
            if flags.contains(.allocate) {
                throw StorageError(.operationUnsupported, "preallocate is only supported for raw type volume")
            }
            try QemuImg.resize(path: volume.path, format: format, capacity: capacity, shrink: flags.contains(.shrink))
        default:
            throw StorageError(.configUnsupported, "resizing volumes of this format is not supported")
        }
    }

    /// `virStorageVolWipeAlgorithm`.
    enum WipeAlgorithm: UInt32, Sendable {
        case zero = 0, nnsa, dod, bsi, gutmann, schneier, pfitzner7, pfitzner33, random, trim

        /// `scrub`'s name for the pattern algorithms.
        var scrubPattern: String? {
            switch self {
            case .nnsa: "nnsa"
            case .dod: "dod"
            case .bsi: "bsi"
            case .gutmann: "gutmann"
            case .schneier: "schneier"
            case .pfitzner7: "pfitzner7"
            case .pfitzner33: "pfitzner33"
            case .random: "random"
            default: nil
            }
        }
    }

    /// Wipes a volume. Zero writes zeros over a raw file's data (holes stay holes); an image
    /// of another format is made again, empty, with the same size, format and backing file, so
    /// it stays a valid image. The pattern algorithms use `scrub`, as libvirt does.
    static func wipe(_ volume: VolumeDescription, algorithm: WipeAlgorithm) throws(StorageError) {
        if algorithm == .trim { throw StorageError(.argumentUnsupported, "'trim' algorithm not supported") }
        if let pattern = algorithm.scrubPattern {
            let candidates: [String] = ["/usr/bin/scrub", "/bin/scrub", "/usr/sbin/scrub"]
            let scrub = candidates.first { access($0, X_OK) == 0 }
            guard let scrub else { throw StorageError(.system, "Cannot find 'scrub' in path: No such file or directory") }
            _ = try runTool(scrub, ["-f", "-p", pattern, volume.path])
            return
        }
        guard let format = volume.format, volume.type == .file || volume.type == .block else {
            throw StorageError(.operationInvalid, "cannot wipe volume '\(volume.name)' of type \(volume.type.rawValue)")
        }
        if format == .raw || volume.type == .block {
            try zeroData(volume.path, length: volume.physical ?? volume.capacity)
        } else if format.isCreatableByQemuImg {
            let backing = volume.backing.map { ($0.path, $0.format ?? .raw) }
            let temporary = (volume.path as String).deletingLastComponent() + "/" + DirectoryPoolBackend.temporaryPrefix + "wipe-" + volume.name
            unlink(temporary)
            try QemuImg.create(path: temporary, format: format, capacity: volume.capacity, backing: backing, options: [])
            _ = chmod(temporary, mode_t(volume.permissions.mode ?? DirectoryPoolBackend.defaultVolumeMode))
            if let owner = volume.permissions.owner, let group = volume.permissions.group { _ = chown(temporary, owner, group) }
            guard rename(temporary, volume.path) == 0 else {
                let code = errno
                unlink(temporary)
                throw StorageError.system("cannot replace '\(volume.path)'", errno: code)
            }
        } else {
            try zeroData(volume.path, length: volume.physical ?? volume.capacity)
        }
    }

    /// Writes zeros over every data extent of the file (holes read as zeros already).
    private static func zeroData(_ path: String, length: UInt64) throws(StorageError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.system("cannot open volume '\(path)'", errno: errno) }
        defer { close(fd) }
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        let end = off_t(min(length, UInt64(Int64.max)))
        var position: off_t = 0
        while position < end {
            var dataStart = off_t(FileExtents.seekData(fd, Int64(position)))
            if dataStart < 0 {
                if errno == ENXIO { break }
                dataStart = position  // no FileExtents.seekData support: write everything
            }
            var dataEnd = off_t(FileExtents.seekHole(fd, Int64(dataStart)))
            if dataEnd < 0 { dataEnd = end }
            var offset = dataStart
            while offset < min(dataEnd, end) {
                let count = Int(min(off_t(zeros.count), min(dataEnd, end) - offset))
                let written = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, count, offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw StorageError.system("cannot write to '\(path)'", errno: errno)
                }
                offset += off_t(written)
            }
            position = max(dataEnd, position + 1)
        }
        guard fdatasync(fd) == 0 else { throw StorageError.system("cannot sync '\(path)'", errno: errno) }
    }

    private static func runTool(_ executable: String, _ arguments: [String]) throws(StorageError) -> String {
        let output: ChildProcess.Output
        do {
            output = try ChildProcess.run(executable, arguments, timeout: QemuImg.timeout)
        } catch {
            throw StorageError(.system, "cannot run \(executable): \(error)")
        }
        guard output.status == 0 else { throw StorageError(.internalError, output.standardError) }
        return output.standardOutput
    }
}

extension String {
    /// The path without its last component.
    func deletingLastComponent() -> String {
        guard let slash = lastIndex(of: "/") else { return "." }
        return slash == startIndex ? "/" : String(self[..<slash])
    }
}

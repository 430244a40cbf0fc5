import CorralJSON
import Foundation
import CorralStorage
import POSIXSupport

/// `qemu-img` (Debian's qemu-utils), run as a child process with an argument vector — never a
/// shell — and a time limit. Its own message is the error when it fails.
enum QemuImg {
    static let executable = "/usr/bin/qemu-img"

    /// How long one run may take: conversions of large images take minutes.
    static let timeout: Double = 3600

    /// Runs `qemu-img ARGUMENTS`; throws its standard error on failure.
    @discardableResult
    static func run(_ arguments: [String]) throws(StorageError) -> String {
        let output: ChildProcess.Output
        do {
            output = try ChildProcess.run(executable, arguments, timeout: timeout)
        } catch {
            throw StorageError(.system, "cannot run \(executable): \(error)")
        }
        guard output.status == 0 else {
            let message = output.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            throw StorageError(.internalError, message.isEmpty ? "qemu-img \(arguments.first ?? "") failed with status \(output.status)" : message)
        }
        return output.standardOutput
    }

    /// `qemu-img create` of a new image.
    static func create(path: String, format: VolumeFormat, capacity: UInt64?, backing: (path: String, format: VolumeFormat)?, options: [String]) throws(StorageError) {
        var arguments = ["create", "-f", format.qemuImgName]
        if let backing {
            arguments += ["-b", backing.path, "-F", backing.format.qemuImgName]
        }
        if !options.isEmpty { arguments += ["-o", options.joined(separator: ",")] }
        arguments += ["--", path]
        if let capacity {
            // libvirt passes the size in KiB, rounded up.
            arguments.append("\(capacity / 1024 + (capacity % 1024 == 0 ? 0 : 1))K")
        }
        try run(arguments)
    }

    /// `qemu-img convert` from one image to a new one; with `intoExisting`, into an image just
    /// created (reading as zeros), as a larger clone needs.
    static func convert(
        from source: String, format sourceFormat: VolumeFormat, to destination: String, format: VolumeFormat, options: [String], intoExisting: Bool = false
    ) throws(StorageError) {
        var arguments = ["convert", "-f", sourceFormat.qemuImgName, "-O", format.qemuImgName]
        if intoExisting {
            arguments += ["-n", "--target-is-zero"]
        } else if !options.isEmpty {
            arguments += ["-o", options.joined(separator: ",")]
        }
        arguments += ["--", source, destination]
        try run(arguments)
    }

    /// `qemu-img resize`.
    static func resize(path: String, format: VolumeFormat, capacity: UInt64, shrink: Bool) throws(StorageError) {
        var arguments = ["resize", "-f", format.qemuImgName]
        if shrink { arguments.append("--shrink") }
        arguments += ["--", path, "\(capacity)"]
        try run(arguments)
    }

    /// The virtual size `qemu-img info --output=json` reports (for formats the in-process probe
    /// does not read fully).
    static func virtualSize(path: String, format: VolumeFormat) -> UInt64? {
        guard let text = try? run(["info", "--output=json", "-f", format.qemuImgName, "--", path]),
            let value = try? JSONValue.parse(text)
        else { return nil }
        return value["virtual-size"]?.uint64Value
    }
}

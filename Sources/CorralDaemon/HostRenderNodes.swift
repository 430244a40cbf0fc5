import Foundation

/// The host's DRM render nodes (`/dev/dri/renderD*`), where QEMU's OpenGL displays render.
enum HostRenderNodes {
    /// The directory DRM devices are in.
    static let directory = "/dev/dri"

    /// The first render node, by name (libvirt's `virHostGetDRMRenderNode` takes the first its
    /// directory listing gives; sorting makes the choice the same on every start); `nil` when
    /// the host has none.
    static func first(in directory: String = directory) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("renderD") }.sorted().first.map { directory + "/" + $0 }
    }
}

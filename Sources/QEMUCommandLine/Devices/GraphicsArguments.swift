import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// VNC servers (`-display none` without graphics).
    mutating func addGraphics() throws(CommandLineError) {
        let graphics = domain.devices.graphics
        if graphics.isEmpty { add("-display", "none") }
        for server in graphics {
            guard server.type == .vnc else { throw CommandLineError(.unsupported, "graphics type '\(server.type.rawValue)' is not supported (only vnc)") }
            let display: Int
            if let port = server.port, port >= 5900, !server.autoport { display = port - 5900 } else { display = context.vncDisplay ?? 0 }
            add("-vnc", try QEMUKeyValue.implied("\(server.listen ?? "127.0.0.1"):\(display)"))
        }
    }
}

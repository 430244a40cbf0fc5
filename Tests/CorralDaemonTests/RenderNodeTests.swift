@testable import CorralDaemon
import DomainXML
import Foundation
import Testing
import XMLTree

@Suite("DRM render nodes for OpenGL displays")
struct RenderNodeTests {
    @Test("the host's first render node is chosen by name; card nodes and a missing directory give none")
    func firstRenderNode() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("corral-dri-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(HostRenderNodes.first(in: directory) == nil)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: directory + "/card0", contents: nil)
        #expect(HostRenderNodes.first(in: directory) == nil)
        for name in ["renderD129", "renderD128"] { FileManager.default.createFile(atPath: directory + "/" + name, contents: nil) }
        #expect(HostRenderNodes.first(in: directory) == directory + "/renderD128")
    }

    @Test("the live XML names the chosen node on SPICE's enabled <gl> and on an egl-headless display, and nowhere else")
    func liveXMLNamesTheNode() throws {
        func named(_ devices: String) throws -> String {
            var document = try DomainXMLParser.parse(
                "<domain type='qemu'><name>gl</name><memory>65536</memory><os><type machine='q35'>hvm</type></os><devices>\(devices)</devices></domain>", options: .init()
            ).document
            LiveDomainXML.nameRenderNode(&document, "/dev/dri/renderD128")
            return DomainXMLFormatter.format(document)
        }
        let spice = try named("<graphics type='spice'><listen type='none'/><gl enable='yes'/></graphics><graphics type='vnc' autoport='yes'/>")
        #expect(spice.contains("<gl enable='yes' rendernode='/dev/dri/renderD128'/>") && spice.components(separatedBy: "rendernode=").count == 2)
        let headless = try named("<graphics type='spice'><gl enable='no'/></graphics><graphics type='egl-headless'/><graphics type='vnc' autoport='yes'/>")
        #expect(headless.contains("<graphics type='egl-headless'>\n      <gl rendernode='/dev/dri/renderD128'/>\n    </graphics>"))
        #expect(headless.contains("<gl enable='no'/>") && headless.components(separatedBy: "rendernode=").count == 2)
        // A node the XML names stays.
        var named = try DomainXMLParser.parse(
            "<domain type='qemu'><name>gl</name><memory>65536</memory><os><type>hvm</type></os><devices><graphics type='egl-headless'><gl rendernode='/dev/dri/renderD130'/></graphics></devices></domain>",
            options: .init()
        ).document
        LiveDomainXML.nameRenderNode(&named, "/dev/dri/renderD128")
        #expect(DomainXMLFormatter.format(named).contains("<gl rendernode='/dev/dri/renderD130'/>") && !DomainXMLFormatter.format(named).contains("renderD128"))
    }
}

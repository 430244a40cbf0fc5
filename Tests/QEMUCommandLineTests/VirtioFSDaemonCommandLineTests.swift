import DomainXML
import QEMUCommandLine
import Testing

/// The virtiofsd command line of a virtiofs share, as libvirt writes it.
@Suite("virtiofsd command line")
struct VirtioFSDaemonCommandLineTests {
    static func share(_ inner: String, source: String = "/srv/share") throws -> DomainDefinition.Filesystem {
        let xml = """
            <domain type='qemu'><name>v</name><memory>65536</memory>\
            <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking><os><type>hvm</type></os><devices>\
            <filesystem type='mount'><driver type='virtiofs'/>\(inner)<source dir='\(source)'/><target dir='t'/></filesystem>\
            </devices></domain>
            """
        return try #require(try DomainXMLParser.parse(xml).definition.devices.filesystems.first)
    }

    @Test("without <binary>: the socket's descriptor and the source only")
    func plain() throws {
        #expect(VirtioFSDaemonCommandLine.arguments(try Self.share(""), descriptor: 3) == ["--fd=3", "-o", "source=/srv/share"])
    }

    @Test("every <binary> setting, in libvirt's order; a negative thread pool size is unset")
    func settings() throws {
        let binary = "<binary xattr='off'><cache mode='always'/><sandbox mode='namespace'/><lock posix='on' flock='off'/><thread_pool size='8'/></binary>"
        #expect(VirtioFSDaemonCommandLine.arguments(try Self.share(binary), descriptor: 7) == [
            "--fd=7", "-o", "source=/srv/share,cache=always,sandbox=namespace,no_xattr,no_flock,posix_lock", "--thread-pool-size=8",
        ])
        let unset = try Self.share("<binary><thread_pool size='-1'/></binary>")
        #expect(unset.virtioFSDaemon.threadPoolSize == nil)
        #expect(VirtioFSDaemonCommandLine.arguments(unset, descriptor: 3) == ["--fd=3", "-o", "source=/srv/share"])
    }

    @Test("commas and backslashes in the directory are escaped for FUSE's option parser")
    func escaping() throws {
        let arguments = VirtioFSDaemonCommandLine.arguments(try Self.share("", source: "/srv/a,b\\c"), descriptor: 3)
        #expect(arguments == ["--fd=3", "-o", "source=/srv/a\\,b\\\\c"])
    }

    @Test("bad <binary> values are refused with libvirt's messages")
    func refusals() {
        for (binary, message) in [
            ("<binary><cache mode='sometimes'/></binary>", "Invalid value for attribute 'mode' in element 'cache': 'sometimes'."),
            ("<binary xattr='yes'/>", "Invalid value for attribute 'xattr' in element 'binary': 'yes'."),
            ("<binary><thread_pool size='99999999999'/></binary>", "cannot parse thread pool size '99999999999' for virtiofs"),
        ] {
            do {
                _ = try Self.share(binary)
                Issue.record("\(binary) was accepted")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }
}

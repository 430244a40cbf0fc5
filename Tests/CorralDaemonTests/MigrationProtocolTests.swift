@testable import CorralDaemon
import CorralJSON
import CorralProtocol
import Testing

@Suite("Migration: cookie, parameters, flags and URIs")
struct MigrationProtocolTests {
    let cookie = MigrationCookie(name: "g", uuid: "5a8ba36e-4d2f-4c3a-9f65-3f1d5b3b0a11", hostname: "h1", hostUUID: "11111111-1111-4111-8111-111111111111")

    @Test("the cookie libvirt expects: the identity elements, and a NUL counted in the length")
    func cookieEncoding() throws {
        var withDomain = cookie
        withDomain.persistentXML = "<domain type='qemu'>\n  <name>g</name>\n</domain>"
        let text = String(decoding: withDomain.encoded.dropLast(), as: UTF8.self)
        #expect(withDomain.encoded.last == 0)
        #expect(text == """
            <qemu-migration>
              <name>g</name>
              <uuid>5a8ba36e-4d2f-4c3a-9f65-3f1d5b3b0a11</uuid>
              <hostname>h1</hostname>
              <hostuuid>11111111-1111-4111-8111-111111111111</hostuuid>
              <feature name='persistent'/>
              <domain type='qemu'>
                <name>g</name>
              </domain>
            </qemu-migration>

            """)
        let decoded = try #require(try MigrationCookie.decode(withDomain.encoded))
        #expect(decoded.name == "g" && decoded.mandatoryFeatures == ["persistent"])
        #expect(decoded.persistentXML?.contains("<name>g</name>") == true)
        #expect(try MigrationCookie.decode([]) == nil)
    }

    static let refusedCookies: [(text: String, terminated: Bool, message: String)] = [
        ("<qemu-migration/>", false, "internal error: Migration cookie was not NULL terminated"),
        ("<qemu-migration><name>g</name></qemu-migration>", true, "internal error: missing uuid element in migration data"),
        ("<qemu-migration><name>g</name><uuid>u</uuid><hostname>h</hostname><hostuuid>x</hostuuid><feature name='nbd-magic'/></qemu-migration>", true,
         "internal error: Unsupported migration cookie feature nbd-magic"),
        ("<other/>", true, "internal error: cannot parse migration cookie: its root is <other>"),
    ]

    @Test("cookies libvirt refuses are refused")
    func cookieRefusals() {
        for refused in Self.refusedCookies {
            let bytes: [UInt8] = Array(refused.text.utf8) + (refused.terminated ? [0] : [])
            do {
                _ = try MigrationCookie.decode(bytes)
                Issue.record("accepted \(refused.text)")
            } catch {
                #expect(error.message == refused.message)
            }
        }
    }

    @Test("the same host and another domain's UUID are refused")
    func cookieChecks() {
        #expect(throws: RemoteError.self) { try cookie.check(uuid: cookie.uuid, localHostUUID: cookie.hostUUID) }
        #expect(throws: RemoteError.self) { try cookie.check(uuid: "00000000-0000-4000-8000-000000000000", localHostUUID: "other") }
        #expect(throws: Never.self) { try cookie.check(uuid: cookie.uuid.uppercased(), localHostUUID: "22222222-2222-4222-8222-222222222222") }
    }

    @Test("typed parameters: libvirt's names and types, repeats only where allowed")
    func parameters() throws {
        let parsed = try MigrationParameters([
            TypedParameter("migrate_uri", .string("tcp:10.0.0.2")), TypedParameter("bandwidth", .unsignedLongLong(100)),
            TypedParameter("compression", .string("xbzrle")), TypedParameter("compression", .string("xbzrle")),
            TypedParameter("parallel.connections", .int(4)), TypedParameter("migrate_disks", .string("vda")),
            TypedParameter("migrate_disks", .string("vdb")), TypedParameter("disks_port", .int(49200)), TypedParameter("tls.destination", .string("b.example")),
        ])
        #expect(parsed.disks == ["vda", "vdb"] && parsed.disksPort == 49200 && parsed.tlsDestination == "b.example")
        #expect(parsed.uri == "tcp:10.0.0.2" && parsed.bandwidth == 100 && parsed.compression.count == 2 && parsed.parallelConnections == 4)
        #expect(try MigrationParameters(parsed.typedParameters) == parsed)
        for (list, message) in [
            ([TypedParameter("bandwidth", .string("x"))], "invalid argument: invalid type 'string' for parameter 'bandwidth', expected 'ullong'"),
            ([TypedParameter("migrate_uri", .string("a")), TypedParameter("migrate_uri", .string("b"))], "invalid argument: parameter 'migrate_uri' occurs multiple times"),
            ([TypedParameter("nope", .int(1))], "argument unsupported: parameter 'nope' not supported"),
            ([TypedParameter("disks_uri", .string("unix:/x"))], "argument unsupported: migration parameter 'disks_uri' is not supported by Corral"),
            ([TypedParameter("disks_port", .int(70000))], "invalid argument: nbd port must be in range 0-65535"),
            ([TypedParameter("bandwidth", .unsignedLongLong(UInt64.max))], "numerical overflow: bandwidth must be less than 8796093022208"),
        ] {
            do {
                _ = try MigrationParameters(list)
                Issue.record("accepted \(list)")
            } catch {
                #expect(error.message == message)
            }
        }
    }

    @Test("flags: what Corral does not carry out is refused by name")
    func flags() {
        #expect(throws: Never.self) { try MigrationFlags([.live, .peerToPeer, .tunnelled, .persistDestination]).check() }
        #expect(throws: Never.self) { try MigrationFlags([.live, .nonSharedDisk]).check() }
        for (flags, message) in [
            (MigrationFlags.offline, "argument unsupported: migration flag VIR_MIGRATE_OFFLINE is not supported by Corral"),
            ([.nonSharedDisk, .nonSharedIncremental], "invalid argument: Flags 'VIR_MIGRATE_NON_SHARED_DISK' and 'VIR_MIGRATE_NON_SHARED_INC' are mutually exclusive"),
            ([.peerToPeer, .tunnelled, .nonSharedIncremental], "Operation not supported: migration of non-shared storage is not supported with tunnelled migration"),
            (MigrationFlags.tunnelled, "invalid argument: migration flag VIR_MIGRATE_TUNNELLED requires VIR_MIGRATE_PEER2PEER"),
            (MigrationFlags(rawValue: 1 << 40), "invalid argument: unsupported flags (0x10000000000) in function qemuDomainMigrateBegin3Params"),
        ] {
            do {
                try flags.check()
                Issue.record("accepted \(flags)")
            } catch {
                #expect(error.message == message)
            }
        }
    }

    @Test("migrate_disks needs a storage-copy flag")
    func disksNeedAFlag() throws {
        var parameters = MigrationParameters()
        parameters.disks = ["vda"]
        #expect(throws: Never.self) { try MigrationFlags.nonSharedIncremental.check(parameters) }
        do {
            try MigrationFlags.live.check(parameters)
            Issue.record("accepted migrate_disks without a copy")
        } catch {
            #expect(error.message?.contains("requires use of 'VIR_MIGRATE_NON_SHARED_DISK' or 'VIR_MIGRATE_NON_SHARED_INC' flag") == true)
        }
    }

    @Test("the cookie's <nbd>: disks and sizes one way, the server's port the other")
    func nbdCookie() throws {
        var withDisks = cookie
        withDisks.nbd = MigrationNBD(disks: [.init(target: "vda", capacity: 67_108_864), .init(target: "sdb", capacity: 1)])
        let text = String(decoding: withDisks.encoded.dropLast(), as: UTF8.self)
        #expect(text.contains("  <nbd>\n    <disk target='vda' capacity='67108864'/>\n    <disk target='sdb' capacity='1'/>\n  </nbd>\n"))
        #expect(try MigrationCookie.decode(withDisks.encoded)?.nbd == withDisks.nbd)
        var withPort = cookie
        withPort.nbd = MigrationNBD(port: 49153)
        #expect(String(decoding: withPort.encoded, as: UTF8.self).contains("<nbd port='49153'/>"))
        #expect(try MigrationCookie.decode(withPort.encoded)?.nbd?.port == 49153)
        for bad in ["<nbd port='70000'/>", "<nbd port='x'/>", "<nbd><disk target='vda' capacity='-1'/></nbd>", "<nbd><disk capacity='1'/></nbd>"] {
            let bytes = Array("<qemu-migration><name>g</name><uuid>u</uuid><hostname>h</hostname><hostuuid>x</hostuuid>\(bad)</qemu-migration>".utf8) + [0]
            #expect(throws: RemoteError.self) { try MigrationCookie.decode(bytes) }
        }
    }

    @Test("TLS: the files each end needs, named when missing; no TLS through a tunnel")
    func tlsFiles() throws {
        var settings = MigrationTLSSettings()
        settings.directory = "/nonexistent-corral-pki"
        do {
            try DomainDriver.checkMigrationTLSFiles(settings, server: true)
            Issue.record("accepted a missing directory")
        } catch {
            #expect(error.message == "Requested operation is not valid: cannot migrate with TLS: /nonexistent-corral-pki/ca-cert.pem is missing (migrate_tls_x509_cert_dir)")
        }
        #expect(MigrationTLSSettings.files(server: false) == ["ca-cert.pem", "client-cert.pem", "client-key.pem"])
        #expect(throws: RemoteError.self) { try MigrationFlags([.peerToPeer, .tunnelled, .tls]).check() }
        var parameters = MigrationParameters()
        parameters.tlsDestination = "dest.example"
        #expect(throws: RemoteError.self) { try MigrationFlags.live.check(parameters) }
        #expect(throws: Never.self) { try MigrationFlags([.live, .tls]).check(parameters) }
        #expect(DomainDriver.migrationTLSParameters(enabled: true, hostname: "dest.example").map(\.1) == [.string("objlibvirt_migrate_tls0"), .string("dest.example")])
    }

    @Test("migration URIs", arguments: [
        ("tcp:10.0.0.2:49152", "10.0.0.2", 49152), ("tcp://host.example:50000/", "host.example", 50000), ("tcp:[fe80::1]:49153", "fe80::1", 49153),
        ("tcp:host", "host", nil),
    ])
    func uris(text: String, host: String, port: Int?) throws {
        let uri = try MigrationURI(text)
        #expect(uri.host == host && uri.port == port)
    }

    @Test("URIs QEMU must not be given are refused", arguments: ["exec:rm -rf /", "unix:/tmp/x", "tcp:", "tcp:h:0", "tcp:h:99999", "tcp:a,b:1", "tcp:[::1"])
    func badURIs(text: String) {
        #expect(throws: RemoteError.self) { try MigrationURI(text) }
    }
}

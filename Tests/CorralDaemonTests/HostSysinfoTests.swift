@testable import CorralDaemon
import DomainXML
import Testing
import XMLTree

@Suite("Host SMBIOS (virsh sysinfo)")
struct HostSysinfoTests {
    /// dmidecode -q -t 0,1,2,3,4,11,17 as a small server prints it.
    static let output = """
        BIOS Information
        \tVendor: Example Firmware Inc.
        \tVersion: 2.4.1
        \tRelease Date: 03/14/2024
        \tROM Size: 16 MB
        \tCharacteristics:
        \t\tPCI is supported
        \tBIOS Revision: 2.4

        System Information
        \tManufacturer: Example <Servers> & Co
        \tProduct Name: R100
        \tVersion: Not Specified
        \tSerial Number: SN123
        \tUUID: 4c4c4544-0031-3310-8048-b2c04f4e4b32
        \tWake-up Type: Power Switch
        \tSKU Number: SKU-9
        \tFamily: Rack

        Base Board Information
        \tManufacturer: Example Boards
        \tProduct Name: MB-1
        \tVersion: A01
        \tSerial Number: BB1
        \tAsset Tag: Not Specified
        \tLocation In Chassis: Slot 1

        Chassis Information
        \tManufacturer: Example Cases
        \tType: Rack Mount Chassis
        \tVersion: 1
        \tSerial Number: CH1
        \tAsset Tag: AT-7
        \tSKU Number: Not Specified

        Processor Information
        \tSocket Designation: CPU1
        \tType: Central Processor
        \tFamily: Xeon
        \tManufacturer: Intel(R) Corporation
        \tSignature: Type 0, Family 6, Model 85, Stepping 7
        \tVersion: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
        \tExternal Clock: 100 MHz
        \tMax Speed: 4000 MHz
        \tStatus: Populated, Enabled
        \tSerial Number: Not Specified
        \tPart Number: Not Specified

        OEM Strings
        \tString 1: Example OEM 1
        \tString 2: key=value

        Memory Device
        \tSize: 32 GB
        \tForm Factor: DIMM
        \tLocator: A1
        \tBank Locator: Not Specified
        \tType: DDR4
        \tType Detail: Synchronous Registered (Buffered)
        \tSpeed: 2933 MT/s
        \tManufacturer: Example RAM
        \tSerial Number: M1
        \tPart Number: PN-1

        Memory Device
        \tSize: No Module Installed
        \tForm Factor: DIMM
        \tLocator: A2

        """

    @Test("sections become libvirt's elements and entry names, in libvirt's order; empty slots are skipped")
    func document() throws {
        let document = try #require(HostSysinfo.document(dmidecode: Self.output))
        #expect(document[attribute: "type"] == "smbios")
        #expect(document.elements.map(\.name) == ["bios", "system", "baseBoard", "chassis", "processor", "memory_device", "oemStrings"])
        func entries(_ name: String) -> [String] {
            document.element(named: name)?.elements.map { "\($0[attribute: "name"] ?? "")=\($0.text)" } ?? []
        }
        #expect(entries("bios") == ["vendor=Example Firmware Inc.", "version=2.4.1", "date=03/14/2024", "release=2.4"])
        #expect(entries("system").first == "manufacturer=Example <Servers> & Co" && entries("system").contains("sku=SKU-9"))
        #expect(entries("chassis") == ["manufacturer=Example Cases", "version=1", "serial=CH1", "asset=AT-7", "sku=Not Specified"])
        #expect(entries("processor").first == "socket_destination=CPU1" && entries("processor").contains("max_speed=4000 MHz"))
        #expect(entries("memory_device").first == "size=32 GB")
        #expect(document.element(named: "oemStrings")?.elements.map(\.text) == ["Example OEM 1", "key=value"])
        // Escaped as XML once written.
        #expect(DomainXMLFormatter.format(document).contains("Example &lt;Servers&gt; &amp; Co"))
    }

    @Test("no BIOS section (a host without SMBIOS tables): not available")
    func unavailable() {
        #expect(HostSysinfo.document(dmidecode: "") == nil)
        #expect(HostSysinfo.document(dmidecode: "# No SMBIOS nor DMI entry point found, sorry.\n") == nil)
    }
}

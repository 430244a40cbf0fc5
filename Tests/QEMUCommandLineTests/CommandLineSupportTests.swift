import DomainXML
import QEMUCommandLine
import QEMUProbe
import Testing

/// `CommandLineSupport` is what domain capabilities report: each list must say exactly which
/// values the builder turns into options, so every value of every closed set is tried.
@Suite("Command line support lists")
struct CommandLineSupportTests {
    static func builds(_ devices: String) throws -> Bool {
        let xml = "<domain type='qemu'><name>s</name><memory>65536</memory><os><type>hvm</type></os><devices>\(devices)</devices></domain>"
        let parsed = try DomainXMLParser.parse(xml)
        let context = CommandLineContext(
            emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: false, id: 1, runDirectory: "/run/corral/domains/s")
        do throws(CommandLineError) {
            _ = try QEMUCommandLineBuilder.build(parsed.definition, context: context)
            return true
        } catch {
            #expect(error.kind == .unsupported, "\(devices): \(error.message)")
            return false
        }
    }

    @Test("disk buses and devices")
    func disks() throws {
        for bus in DomainDefinition.Disk.Bus.allCases {
            let xml = "<disk type='file' device='disk'><source file='/x.img'/><target dev='sda' bus='\(bus.rawValue)'/></disk>"
            #expect(try Self.builds(xml) == CommandLineSupport.diskBuses.contains(bus), "bus \(bus.rawValue)")
        }
        for device in DomainDefinition.Disk.Device.allCases {
            let xml = "<disk type='file' device='\(device.rawValue)'><source file='/x.img'/><target dev='sda' bus='scsi'/></disk>"
            #expect(try Self.builds(xml) == CommandLineSupport.diskDevices.contains(device), "device \(device.rawValue)")
        }
    }

    @Test("graphics, video and RNGs")
    func displaysAndRNGs() throws {
        for type in DomainDefinition.Graphics.Kind.allCases {
            #expect(try Self.builds("<graphics type='\(type.rawValue)'/>") == CommandLineSupport.graphicsTypes.contains(type), "graphics \(type.rawValue)")
        }
        for model in DomainDefinition.Video.Model.allCases {
            #expect(try Self.builds("<video><model type='\(model.rawValue)'/></video>") == CommandLineSupport.videoModels.contains(model), "video \(model.rawValue)")
        }
        for model in DomainDefinition.RandomNumberGenerator.Model.allCases {
            #expect(try Self.builds("<rng model='\(model.rawValue)'><backend model='random'>/dev/urandom</backend></rng>") == CommandLineSupport.rngModels.contains(model))
        }
        for backend in DomainDefinition.RandomNumberGenerator.Backend.allCases {
            let source = backend == .egd ? " type='tcp'><source mode='connect' host='127.0.0.1' service='4558'/></backend>" : "/>"
            #expect(try Self.builds("<rng model='virtio'><backend model='\(backend.rawValue)'\(source)</rng>") == CommandLineSupport.rngBackends.contains(backend))
        }
    }

    @Test("host sides of channels")
    func characterDevices() throws {
        for type in DomainDefinition.CharacterDevice.Kind.allCases {
            let source = switch type {
            case .file, .pipe, .dev: "<source path='/tmp/c.log'/>"
            case .tcp: "<source mode='bind' host='127.0.0.1' service='4555'/>"
            case .udp: "<source mode='connect' host='127.0.0.1' service='4556'/>"
            case .spiceport: "<source channel='org.example.port.0'/>"
            default: ""
            }
            // SPICE's channels need SPICE graphics (libvirt's check at define).
            let graphics = type == .spicevmc || type == .spiceport ? "<graphics type='spice'/>" : ""
            let xml = "<channel type='\(type.rawValue)'>\(source)<target type='virtio' name='org.example.0'/></channel>\(graphics)"
            #expect(try Self.builds(xml) == CommandLineSupport.characterDeviceTypes.contains(type), "channel \(type.rawValue)")
        }
    }
}

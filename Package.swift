// swift-tools-version: 6.2
import PackageDescription

/// Swift 6 language mode (the tools-version default) plus the upcoming features the style guide asks for.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
let nioTLS = Target.Dependency.product(name: "NIOTLS", package: "swift-nio")
let swiftASN1 = Target.Dependency.product(name: "SwiftASN1", package: "swift-asn1")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "Corral",
    products: [
        .library(name: "CorralClient", targets: ["CorralClient"]),
        .library(name: "CorralProtocol", targets: ["CorralProtocol"]),
        .library(name: "CorralQEMU", targets: ["CorralQEMU"]),
        .library(name: "QEMUConfig", targets: ["QEMUConfig"]),
        .library(name: "DomainXML", targets: ["DomainXML"]),
        .library(name: "QMP", targets: ["QMP"]),
        .library(name: "XMLTree", targets: ["XMLTree"]),
        .library(name: "CorralJSON", targets: ["CorralJSON"]),
        .library(name: "QEMUCommandLine", targets: ["QEMUCommandLine"]),
        .library(name: "QEMUProbe", targets: ["QEMUProbe"]),
        .executable(name: "corrald", targets: ["corrald"]),
        .executable(name: "corral", targets: ["corral"]),
        .executable(name: "corral-bench", targets: ["corral-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.88.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // Pure layers: no I/O.
        .target(name: "XDR", dependencies: [nioCore], swiftSettings: swiftSettings),
        .target(name: "CorralProtocol", dependencies: ["XDR", nioCore], swiftSettings: swiftSettings),
        .target(name: "QEMUConfig", dependencies: ["XMLTree"], swiftSettings: swiftSettings),
        .target(name: "XMLTree", swiftSettings: swiftSettings),
        .target(name: "CorralJSON", swiftSettings: swiftSettings),
        // Storage pools and volumes: libvirt's XML, names, sizes and image headers (no I/O).
        .target(name: "CorralStorage", dependencies: ["XMLTree", "CorralJSON"], swiftSettings: swiftSettings),
        // Virtual networks: libvirt's network XML, dnsmasq configuration, firewall rules, leases (no I/O).
        .target(name: "CorralNetwork", dependencies: ["XMLTree"], swiftSettings: swiftSettings),
        // Child processes and blocking Unix sockets, shared by the daemon, probe, tests and benchmark.
        .target(name: "POSIXSupport", dependencies: ["CProcessDescriptors"], swiftSettings: swiftSettings),
        // pidfd_open and pidfd_send_signal, which Swift's Glibc module does not show.
        .target(name: "CProcessDescriptors"),
        // Cyrus SASL (libsasl2), for SASL authentication on the network listeners.
        .systemLibrary(name: "CSASL", pkgConfig: "libsasl2", providers: [.apt(["libsasl2-dev"])]),
        // fallocate's hole punching and lseek's SEEK_DATA/SEEK_HOLE, which Swift's Glibc module does not show.
        .target(name: "CFileExtents"),
        // Linux's native asynchronous I/O, which glibc does not wrap: the definitions journal's
        // durable appends from the event loops.
        .target(name: "CAsyncIO"),
        .target(name: "QMP", dependencies: ["CorralJSON", "POSIXSupport", nioCore, nioPosix], swiftSettings: swiftSettings),
        .target(name: "QEMUCommandLine", dependencies: ["DomainXML", "QEMUConfig", "QEMUProbe", "CorralJSON"], swiftSettings: swiftSettings),
        .target(name: "DomainXML", dependencies: ["XMLTree", "QEMUConfig"], swiftSettings: swiftSettings),
        // Asks an emulator what it is (runs it once; results cached by the binary's identity).
        .target(name: "QEMUProbe", dependencies: ["POSIXSupport", "CorralJSON", logging], swiftSettings: swiftSettings),

        // Runtime.
        .target(
            name: "CorralDaemon",
            dependencies: ["CorralProtocol", "XDR", "QEMUProbe", "QEMUConfig", "DomainXML", "CorralStorage", "CorralNetwork", "CFileExtents", "CAsyncIO", "CProcessDescriptors", "CSASL", "CorralClient", swiftASN1, "QEMUCommandLine", "QMP", "CorralJSON", "POSIXSupport", nioCore, nioPosix, nioSSL, nioTLS, .product(name: "NIOConcurrencyHelpers", package: "swift-nio"), logging, serviceLifecycle,
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CorralClient",
            dependencies: ["CorralProtocol", "XDR", "CFileExtents", "POSIXSupport", nioCore, nioPosix, nioSSL, nioTLS, .product(name: "NIOConcurrencyHelpers", package: "swift-nio"), logging],
            swiftSettings: swiftSettings
        ),
        .target(name: "CorralQEMU", dependencies: ["CorralClient", "CorralProtocol", "QMP", "CorralJSON", "XDR"], swiftSettings: swiftSettings),
        .target(
            name: "CorralCommands",
            dependencies: [
                "CorralClient", "CorralQEMU", "CorralProtocol", "QEMUConfig", "QEMUProbe", "QMP", "CorralJSON", "XDR", "XMLTree", "POSIXSupport", "CFileExtents", nioCore,
                argumentParser,
            ],
            swiftSettings: swiftSettings
        ),

        // Executables: thin shims.
        .executableTarget(
            name: "corrald",
            dependencies: ["CorralDaemon", "POSIXSupport", argumentParser, logging, nioCore, nioPosix, serviceLifecycle, unixSignals],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "corral", dependencies: ["CorralCommands"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "corral-bench",
            dependencies: ["CorralClient", "CorralProtocol", "CorralQEMU", "DomainXML", "QEMUConfig", "QMP", "CorralJSON", "POSIXSupport", "CFileExtents", argumentParser, nioCore, nioPosix],
            swiftSettings: swiftSettings
        ),

        // Tests.
        .testTarget(name: "XDRTests", dependencies: ["XDR", nioCore], swiftSettings: swiftSettings),
        .testTarget(
            name: "CorralProtocolTests",
            dependencies: ["CorralProtocol", "XDR", nioCore, .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CorralDaemonTests",
            dependencies: ["CorralDaemon", "CAsyncIO", "CorralProtocol", "DomainXML", "XMLTree", "QEMUProbe", "XDR", "POSIXSupport", nioCore],
            exclude: ["Golden"],
            swiftSettings: swiftSettings
        ),
        .target(name: "SeededRandom", path: "Tests/SeededRandom", swiftSettings: swiftSettings),
        .testTarget(name: "CorralJSONTests", dependencies: ["CorralJSON", "SeededRandom"], swiftSettings: swiftSettings),
        .testTarget(name: "CorralStorageTests", dependencies: ["CorralStorage"], exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(name: "CorralNetworkTests", dependencies: ["CorralNetwork", "XMLTree"], exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(name: "POSIXSupportTests", dependencies: ["POSIXSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "QEMUConfigTests", dependencies: ["QEMUConfig"], swiftSettings: swiftSettings),
        .testTarget(
            name: "DomainXMLTests",
            dependencies: ["DomainXML", "XMLTree", "QEMUConfig", "SeededRandom"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "QMPTests", dependencies: ["QMP", "CorralJSON", "POSIXSupport", nioCore], swiftSettings: swiftSettings),
        .testTarget(
            name: "QEMUCommandLineTests", dependencies: ["QEMUCommandLine", "QEMUProbe", "DomainXML", "CorralJSON", "POSIXSupport"], exclude: ["Golden", "libvirtd-differences.json"],
            swiftSettings: swiftSettings),
        .testTarget(name: "QEMUProbeTests", dependencies: ["QEMUProbe", "QEMUConfig", "POSIXSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["CorralClient", "CorralQEMU", "CorralProtocol", "QEMUConfig", "QMP", "CorralJSON", "XDR", "POSIXSupport", "DomainXML", "QEMUCommandLine", "QEMUProbe", nioCore],
            swiftSettings: swiftSettings
        ),
    ]
)

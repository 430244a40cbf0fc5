// swift-tools-version: 6.0
// libFuzzer targets for every parser of outside input. Built and run by Scripts/fuzz.sh, which
// adds the sanitizer and coverage flags; seed corpora are in Fuzz/Corpus/TARGET.
import PackageDescription

let targets: [(name: String, dependencies: [Target.Dependency])] = [
    ("FuzzRPC", [.product(name: "CorralProtocol", package: "main"), .product(name: "NIOCore", package: "swift-nio")]),
    ("FuzzXMLTree", [.product(name: "XMLTree", package: "main")]),
    ("FuzzDomainXML", [.product(name: "DomainXML", package: "main"), .product(name: "QEMUCommandLine", package: "main"), .product(name: "QEMUProbe", package: "main")]),
    ("FuzzJSON", [.product(name: "CorralJSON", package: "main")]),
    ("FuzzQMP", [.product(name: "QMP", package: "main"), .product(name: "CorralJSON", package: "main")]),
    ("FuzzQEMUConfig", [.product(name: "QEMUConfig", package: "main")]),
]

let package = Package(
    name: "CorralFuzz",
    dependencies: [
        .package(name: "main", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.88.0"),
    ],
    targets: [.target(name: "FuzzSupport")]
        + targets.map { .executableTarget(name: $0.name, dependencies: ["FuzzSupport"] + $0.dependencies, swiftSettings: [.swiftLanguageMode(.v5)]) }
)

// swift-tools-version:6.1
import PackageDescription

let dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
    .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
    .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
]

/// This package's folder (the linker needs the order file's absolute path).
let packageDirectory = String(#filePath.dropLast("/Package.swift".count))

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

/// The modules the mount daemon links: they may use only FoundationEssentials, and with member
/// import visibility a Foundation extension another module pulls in (SwiftProtobuf imports
/// Foundation) cannot creep in unnoticed.
let daemonSwiftSettings = swiftSettings + [.enableUpcomingFeature("MemberImportVisibility")]

let grpc: [Target.Dependency] = [
    .product(name: "GRPCCore", package: "grpc-swift-2"),
    .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
    .product(name: "SwiftProtobuf", package: "swift-protobuf"),
]

let targets: [Target] = [
    // Code generated from Protos/ by scripts/generate-protos.sh; never edited by hand.
    .target(name: "REAPI", dependencies: grpc, swiftSettings: [.swiftLanguageMode(.v6)]),
    .target(
        name: "LocalCAS",
        dependencies: [
            "REAPI",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: daemonSwiftSettings
    ),
    .target(
        name: "RemoteCAS",
        dependencies: [
            "LocalCAS", "REAPI",
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "Logging", package: "swift-log"),
        ] + grpc,
        swiftSettings: daemonSwiftSettings
    ),
    .systemLibrary(name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
    .target(
        name: "Mount",
        dependencies: [
            "CFuse", "LocalCAS",
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: daemonSwiftSettings
    ),
    // Serving one mount (the mount daemon's body): LocalCAS, RemoteCAS and Mount only, so the
    // process that serves a mount for hours maps no more than it needs.
    .target(
        name: "MountDaemon",
        dependencies: [
            "LocalCAS", "RemoteCAS", "Mount",
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: daemonSwiftSettings
    ),
    .target(
        name: "Sandbox",
        dependencies: [
            "LocalCAS", "REAPI",
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: swiftSettings
    ),
    .target(
        name: "Server",
        dependencies: [
            "LocalCAS", "REAPI", "Sandbox",
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "Logging", package: "swift-log"),
        ] + grpc,
        swiftSettings: swiftSettings
    ),
    .target(
        name: "Worker",
        dependencies: [
            "LocalCAS", "RemoteCAS", "REAPI", "Mount", "Sandbox",
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "Logging", package: "swift-log"),
        ] + grpc,
        swiftSettings: swiftSettings
    ),
    .target(
        name: "Driver",
        dependencies: [
            "LocalCAS", "RemoteCAS", "REAPI",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ] + grpc,
        swiftSettings: swiftSettings
    ),
    .executableTarget(
        name: "lazycas",
        dependencies: [
            "LocalCAS", "RemoteCAS", "REAPI", "Mount", "MountDaemon", "Server", "Driver", "Sandbox", "Worker",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ],
        swiftSettings: swiftSettings
    ),
    // The mount daemon `lazycas mount` starts (MountDaemon).
    .executableTarget(
        name: "lazycas-mount",
        dependencies: ["LocalCAS", "MountDaemon", .product(name: "Logging", package: "swift-log")],
        swiftSettings: daemonSwiftSettings,
        // The Swift runtime linked in: SwiftProtobuf names libFoundation among its libraries, so
        // linked dynamically the daemon would load Foundation and ICU though it calls neither;
        // linked statically, only what is called comes along. (FoundationEssentials' static
        // library needs its two helper libraries named.) Its symbols are not exported: Swift
        // executables export all 50,000 by default, and the dynamic linker then reads their
        // tables (3 MB) at every start to resolve the libraries' symbols against them. Its
        // functions are laid out by linker/lazycas-mount.order (scripts/order-mount-daemon.sh):
        // those a mount runs first, packed together, so that the kernel, which maps code in large
        // blocks around each page touched, maps little else (when every function has a section
        // of its own, as scripts/build-release.sh builds; otherwise only the Swift runtime's).
        linkerSettings: [.unsafeFlags(["-static-stdlib", "-Xlinker", "--no-export-dynamic",
                                       "-Xlinker", "--section-ordering-file=\(packageDirectory)/linker/lazycas-mount.order"]),
                         .linkedLibrary("_FoundationCollections"), .linkedLibrary("_FoundationCShims")]
    ),
    // Fetches a source's http(s) URL for the driver, in a process of its own (SourceFetcher).
    .executableTarget(name: "lazycas-download", swiftSettings: swiftSettings),
    // Helpers shared by the test suites: real servers (buildbox-casd), temp dirs, trees.
    .target(
        name: "TestSupport",
        dependencies: [
            "LocalCAS", "RemoteCAS", "REAPI", "Server",
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
        ] + grpc,
        path: "Tests/TestSupport",
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "LocalCASTests",
        dependencies: ["LocalCAS", "TestSupport", "RemoteCAS", "REAPI"],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "RemoteCASTests",
        dependencies: ["LocalCAS", "RemoteCAS", "TestSupport", "REAPI"] + grpc,
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "ServerTests",
        dependencies: ["Server", "Sandbox", "LocalCAS", "RemoteCAS", "TestSupport", "REAPI"] + grpc,
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "MountTests",
        dependencies: ["Mount", "CFuse", "LocalCAS", "RemoteCAS", "TestSupport"],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "DriverTests",
        dependencies: ["Driver", "LocalCAS", "RemoteCAS", "TestSupport", "REAPI"] + grpc,
        swiftSettings: swiftSettings
    ),
    // End-to-end tests of the `lazycas` binary: exit codes, messages, the README's commands.
    .testTarget(
        name: "CLITests",
        dependencies: ["lazycas", "LocalCAS", "Mount", "RemoteCAS", "REAPI", "TestSupport"] + grpc,
        swiftSettings: swiftSettings
    ),
]

let package = Package(
    name: "lazycas",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lazycas", targets: ["lazycas"]),
        .executable(name: "lazycas-mount", targets: ["lazycas-mount"]),
        .executable(name: "lazycas-download", targets: ["lazycas-download"]),
    ],
    dependencies: dependencies,
    targets: targets
)

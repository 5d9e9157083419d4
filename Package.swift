// swift-tools-version:6.0
import PackageDescription

// The metadata of a concrete generic type (an array of strings, Operation<LoopNaming>) through its accessor
// function, not by demangling its mangled name at first use: every agent is a fresh process that paid for
// those demanglings again (under emulation about a sixth of the agent's CPU, measured in a guest profile), and
// the runner paid at each first use. Code size grows by a few accessor calls; what the code does is the same.
let directMetadataAccess: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"]),
]

let package = Package(
    name: "handoff",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "handoff", targets: ["handoff"]),
        .executable(name: "handoff-agent", targets: ["handoff-agent"]),
        .library(name: "HandoffCore", targets: ["HandoffCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // Only what Swift cannot express: CMSG macros, _GNU_SOURCE calls, syscall() wrappers, prctl, libcap,
        // and the posix_spawn file actions that need _GNU_SOURCE.
        .target(
            name: "CHandoff",
            linkerSettings: [.linkedLibrary("cap")]
        ),
        // The wire protocol between the runner and an agent. No Foundation: the agent links it.
        .target(name: "HandoffProtocol", swiftSettings: directMetadataAccess),
        .target(
            name: "HandoffCore",
            dependencies: [
                "CHandoff", "HandoffProtocol", .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: directMetadataAccess
        ),
        // The puppet inside every scenario process: single-threaded, synchronous, no Foundation.
        .executableTarget(
            name: "handoff-agent",
            dependencies: ["CHandoff", "HandoffProtocol"],
            // The agent never starts a thread: its reference counting needs no atomic instructions (a loop's
            // per-call path still retains and releases, e.g. a send's descriptor list).
            swiftSettings: [.unsafeFlags(["-Xfrontend", "-assume-single-threaded"])] + directMetadataAccess,
            linkerSettings: [.unsafeFlags(["-static-executable"])]
        ),
        .executableTarget(
            name: "handoff",
            dependencies: ["HandoffCore", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "HandoffCoreTests",
            dependencies: ["HandoffCore", "HandoffProtocol"]
        ),
    ]
)

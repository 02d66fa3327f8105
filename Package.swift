// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "cagent-sidecar",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cagent-sidecar", targets: ["cagent-sidecar"]),
        .executable(name: "cagent-bench", targets: ["cagent-bench"]),
        .library(name: "EmbeddedHost", targets: ["EmbeddedHost"]),
        .library(name: "Bridge", targets: ["Bridge"]),
        .library(name: "CagentClient", targets: ["CagentClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CPython",
            pkgConfig: "python3-embed",
            providers: [.apt(["python3-dev"])]
        ),
        // zstd for the single-file bundle's payload (Sources/CZstd/shim.h says why).
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),
        // The single file's payload (format, SHA-256) and the cache it is unpacked into:
        // depends on nothing of the host, which finds the unpacked runtime through it.
        .target(name: "SingleFile", dependencies: ["CZstd"]),
        // fork/exec with PR_SET_PDEATHSIG for the subprocess backend.
        .target(name: "CSpawn"),
        // The allocator of one interpreter generation, unmapped once it is finalized.
        .target(name: "CGenerationHeap", dependencies: ["CPython"]),
        // The one JSON type (HTTP bodies, direct calls, values crossing into Python): depends
        // on nothing, so the client links no Python and the shipped binary no Foundation.
        .target(name: "CagentJSON"),
        .target(name: "Bridge", dependencies: ["CPython", "CagentJSON"]),
        .target(
            name: "EmbeddedHost",
            dependencies: [
                "Bridge", "CPython", "SingleFile", "CSpawn", "CGenerationHeap", "CagentAPI", "Loopback",
                .product(name: "Logging", package: "swift-log"),
            ],
            // The host's Python half (cagent_host) is found by path, not as a SwiftPM
            // resource: a resource bundle's generated accessor imports Foundation, which
            // would link ICU into the shipped binary (docs/shipping.md).
            exclude: ["Python"]
        ),
        // The shipped binary: FoundationEssentials only, never Foundation (no ICU data).
        .executableTarget(
            name: "cagent-sidecar",
            dependencies: [
                "EmbeddedHost", "CagentAPI", "SidecarCLI", "Loopback",
                // `cagent-sidecar python` runs the linked interpreter (PythonInterpreter.runMain).
                "Bridge",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The bench (`cagent-bench`): full Foundation (Process, JSONSerialization), so a
        // program of its own that runs the cagent-sidecar built beside it.
        .executableTarget(
            name: "cagent-bench",
            dependencies: [
                "EmbeddedHost", "CagentAPI", "CagentBench", "SidecarCLI", "Loopback",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What both programs' command lines share: the runtime and supervision flags, CLIError.
        .target(
            name: "SidecarCLI",
            dependencies: ["EmbeddedHost", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The HTTP + SSE client: depends on nothing of the host (no Bridge, no CPython).
        .target(name: "CagentAPI", dependencies: ["CagentJSON"]),
        .target(name: "CagentClient", dependencies: ["CagentAPI"]),
        // The leaf every layer shares: one HTTP/1.1 client for loopback over POSIX sockets
        // (a deadline on every call, keep-alive optional) and Duration's units. Depends on
        // nothing, not even Foundation, so the host can use it.
        .target(name: "Loopback"),
        // `cagent-bench`'s plumbing: statistics, a keep-alive load client, /proc memory,
        // the report (table, JSON, SVG). Depends on nothing of the host.
        .target(name: "CagentBench", dependencies: ["Loopback"]),
        // What the test targets share: waiting for a condition, the event collector.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "CagentJSONTests", dependencies: ["CagentJSON"]),
        .testTarget(name: "BridgeTests", dependencies: ["Bridge", "CPython"]),
        .testTarget(name: "EmbeddedHostTests", dependencies: ["EmbeddedHost", "Bridge", "CagentAPI", "CZstd", "SingleFile", "Loopback", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "CagentBenchTests", dependencies: ["CagentBench"]),
        .testTarget(name: "LoopbackTests", dependencies: ["Loopback"]),
        .testTarget(name: "CagentClientTests", dependencies: ["CagentClient", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "SubprocessTests",
            dependencies: ["EmbeddedHost", "CagentClient", "TestSupport", .product(name: "Logging", package: "swift-log")],
            exclude: ["Fixtures"]),
        // A host the SubprocessTests SIGKILL, to check that its python child dies with it.
        .executableTarget(name: "cagent-subprocess-harness", dependencies: ["EmbeddedHost"], path: "Tests/SubprocessHarness"),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version: 6.0
// An app that embeds the agent service (docs/embedding.md). Build it with
// `../../toolchain/swift-build-app.sh` (libpython linked in, as `make build` links the host);
// `make test-examples` builds and runs it.
import PackageDescription

let package = Package(
    name: "EmbedService",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Your app: .package(url: "<where cagent-sidecar lives>", branch: "main"), or a path.
        .package(name: "cagent-sidecar", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "EmbedService",
            dependencies: [
                // The service in this process, supervised; direct calls.
                .product(name: "EmbeddedHost", package: "cagent-sidecar"),
                // Only for the HTTP call: an app that calls directly does not need it.
                .product(name: "CagentClient", package: "cagent-sidecar"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

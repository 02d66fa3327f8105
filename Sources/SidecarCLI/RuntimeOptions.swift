import ArgumentParser
import EmbeddedHost

/// `--python-home` and `--service-dir`: which runtime and service folder a sidecar uses.
/// One declaration for `cagent-sidecar run` and `cagent-bench`, which hands them on to its
/// in-process sidecars (``apply(to:)``) and its `run` children (``runArguments``), so the
/// two programs cannot drift apart in names, help or meaning.
public struct RuntimeOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(help: "The Python runtime: a virtual environment or a Python prefix.")
    public var pythonHome: String?

    @Option(help: "The service folder (with main.py); found beside the runtime by default.")
    public var serviceDir: String?

    /// Sets the configuration's runtime and service folder; what is not given stays nil,
    /// for ``RuntimeLocator`` to find.
    public func apply(to configuration: inout SidecarConfiguration) {
        configuration.pythonHome = pythonHome
        configuration.serviceDirectory = serviceDir
    }

    /// The same options as arguments of a `cagent-sidecar run` child.
    public var runArguments: [String] {
        (pythonHome.map { ["--python-home", $0] } ?? []) + (serviceDir.map { ["--service-dir", $0] } ?? [])
    }
}

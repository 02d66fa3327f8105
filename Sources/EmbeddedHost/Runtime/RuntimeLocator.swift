import Bridge
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Finds the runtime in the order docs/running.md gives: an explicit path, a bundle (the
/// single file's unpacked payload, else the folder beside the executable), the project's
/// virtual environment.
public struct RuntimeLocator: Sendable {
    /// The bundle layout (`make bundle`): a Python prefix, the service, the host's Python.
    public static let bundleRuntimeFolder = "runtime"
    public static let bundleServiceFolder = "service"
    public static let bundleHostPythonFolder = "host-python"
    /// Where the bundle keeps its standard library, below `runtime/`: the
    /// sourceless `lib/pythonX.Y` as a folder of that name inside the zip. `sys.path` names
    /// the folder, not the archive: importlib.metadata reads the whole directory of every
    /// archive on `sys.path` (looking for dist-info folders; pydantic asks at start) and
    /// keeps it for the life of the process, ~0.6 KB per entry, while a folder inside an
    /// archive it passes over. CPython's own `lib/pythonXY.zip` would be such an archive
    /// on `sys.path`, so the bundle's is named otherwise and its paths given
    /// (``InterpreterPaths/moduleSearchPaths``).
    public static let bundleStandardLibrary = "lib/stdlib.zip"
    /// Where a bundle keeps its requirements that are only compiled Python, below
    /// `lib/pythonX.Y`: the folder `site-packages` inside it goes on `sys.path` after the
    /// standard library, for the same reason. Their dist-info folders stay files in
    /// `dist-packages`, where importlib.metadata lists them.
    public static let bundleRequirements = "dist-packages/requirements.zip"

    public var explicitHome: String?
    public var serviceDirectory: String?
    /// Where a single-file bundle unpacked its payload (``OnefileBundle``); searched
    /// before the executable's folder.
    public var unpackedBundleDirectory: String? = OnefileBundle.preparedDirectory
    public var executableDirectory: String = RuntimeLocator.currentExecutableDirectory()
    public var workingDirectory: String = FileSystem.currentDirectory
    public var hostModulesDirectory: String = HostResources.pythonDirectory
    /// `major.minor` of the linked libpython: a venv made by another version cannot load.
    public var linkedVersion: String = RuntimeLocator.linkedMajorMinor()

    public func locate() throws(SidecarError) -> PythonRuntime {
        var searched: [String] = []
        if let explicitHome {
            _ = try interpreter(at: explicitHome)  // a runtime that is none says so first
            let service: String
            if let serviceDirectory { service = serviceDirectory } else { service = try serviceBeside(runtime: explicitHome) }
            return try runtime(at: explicitHome, source: .explicit, service: service)
        }
        for root in [unpackedBundleDirectory, executableDirectory].compactMap({ $0 }) {
            let bundle = PathString.join(root, Self.bundleRuntimeFolder)
            searched.append(bundle)
            if isDirectory(bundle) {
                let service = serviceDirectory ?? PathString.join(root, Self.bundleServiceFolder)
                // A bundle carries its own host modules: nothing reaches back into the build tree.
                let hostPython = PathString.join(root, Self.bundleHostPythonFolder)
                let hostModules = fileExists(PathString.join(hostPython, "cagent_host"))
                    ? hostPython : hostModulesDirectory
                return try runtime(at: bundle, source: .bundle, service: service, hostModules: hostModules)
            }
        }
        for start in [workingDirectory, executableDirectory] {
            var directory = PathString.standardized(start)
            while true {
                let venv = PathString.join(directory, ".venv")
                let project = PathString.join(directory, "python/main.py")
                searched.append(venv)
                if fileExists(PathString.join(venv, "pyvenv.cfg")), fileExists(project) {
                    let service = serviceDirectory ?? PathString.join(directory, "python")
                    return try runtime(at: venv, source: .virtualEnvironment, service: service)
                }
                let parent = PathString.deletingLastComponent(directory)
                if parent == directory || parent.isEmpty { break }
                directory = parent
            }
        }
        var seen = Set<String>()
        throw .runtimeNotFound(searched: searched.filter { seen.insert($0).inserted })
    }

    /// The service folder of an explicit runtime given without one, beside it as the two
    /// layouts have it: `python/` beside a project's `.venv`, `service/` beside a bundle's
    /// `runtime/`. Throws, naming what to set, when neither has a `main.py`.
    func serviceBeside(runtime path: String) throws(SidecarError) -> String {
        let parent = PathString.deletingLastComponent(PathString.standardized(path))
        let candidates = ["python", Self.bundleServiceFolder].map { PathString.join(parent, $0) }
        for candidate in candidates where fileExists(PathString.join(candidate, "main.py")) {
            return candidate
        }
        throw .runtimeInvalid(
            path: PathString.standardized(path),
            reason: "no service folder given and none beside it (no main.py in \(candidates.joined(separator: " or "))); "
                + "set SidecarConfiguration.serviceDirectory (--service-dir) to the folder that holds the service's main.py")
    }

    /// A virtual environment (has `pyvenv.cfg`) or a prefix (has `lib/pythonX.Y/os.py`,
    /// `os.pyc` where the standard library ships sourceless, `lib/pythonXY.zip`, the
    /// archive CPython puts on sys.path ahead of it, or `lib/stdlib.zip`, where a bundle
    /// keeps it: ``bundleStandardLibrary``).
    func runtime(
        at path: String, source: PythonRuntime.Source, service: String, hostModules: String? = nil
    ) throws(SidecarError) -> PythonRuntime {
        let root = PathString.standardized(path)
        let paths = try interpreter(at: root)
        let serviceRoot = PathString.standardized(service)
        guard fileExists(PathString.join(serviceRoot, "main.py")) else {
            throw .runtimeInvalid(path: serviceRoot, reason: "the service folder has no main.py")
        }
        return PythonRuntime(
            source: source, root: root, interpreter: paths,
            serviceDirectory: serviceRoot, hostModulesDirectory: hostModules ?? hostModulesDirectory)
    }

    /// How to start an interpreter on the runtime at `path`, with no service needed
    /// (`cagent-sidecar python` runs any program on it).
    public func interpreter(at path: String) throws(SidecarError) -> InterpreterPaths {
        let root = PathString.standardized(path)
        guard isDirectory(root) else { throw .runtimeInvalid(path: root, reason: "no such directory") }
        let cfg = PathString.join(root, "pyvenv.cfg")
        if fileExists(cfg) {
            let version = Self.venvVersion(cfgPath: cfg)
            if let version, !version.hasPrefix(linkedVersion + ".") && version != linkedVersion {
                throw .runtimeInvalid(
                    path: root,
                    reason: "it was made by Python \(version), but this host links Python \(linkedVersion); "
                        + "recreate it with `/usr/bin/python\(linkedVersion) -m venv` (make setup does)")
            }
            return InterpreterPaths(programName: PathString.join(root, "bin/python"))
        }
        let lib = PathString.join(root, "lib/python\(linkedVersion)")
        let programName = PathString.join(root, "bin/python\(linkedVersion)")
        let bundled = PathString.join(root, Self.bundleStandardLibrary)
        if fileExists(bundled) {
            var paths = [PathString.join(bundled, "python\(linkedVersion)"), lib, PathString.join(lib, "lib-dynload")]
            let requirements = PathString.join(lib, Self.bundleRequirements)
            if fileExists(requirements) { paths.append(PathString.join(requirements, "site-packages")) }
            return InterpreterPaths(programName: programName, home: root, moduleSearchPaths: paths)
        }
        if fileExists(PathString.join(lib, "os.py")) || fileExists(PathString.join(lib, "os.pyc"))
            || fileExists(PathString.join(root, "lib/python\(linkedVersion.filter { $0 != "." }).zip")) {
            return InterpreterPaths(programName: programName, home: root)
        }
        throw .runtimeInvalid(
            path: root,
            reason: "neither a virtual environment (pyvenv.cfg) nor a Python \(linkedVersion) prefix (lib/python\(linkedVersion)/os.py)")
    }

    /// `version` (or `version_info`) from a pyvenv.cfg.
    static func venvVersion(cfgPath: String) -> String? {
        guard let text = try? String(contentsOfFile: cfgPath, encoding: .utf8) else { return nil }
        for line in text.split(whereSeparator: { $0.isNewline }) {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
            if parts.count == 2, parts[0] == "version" || parts[0] == "version_info" { return parts[1] }
        }
        return nil
    }

    public static func linkedMajorMinor() -> String {
        let version = linkedPythonVersion()
        let numbers = version.prefix { !$0.isWhitespace }.split(separator: ".")
        return numbers.prefix(2).joined(separator: ".")
    }

    public static func currentExecutableDirectory() -> String {
        let path = OnefileBundle.runningExecutable() ?? CommandLine.arguments[0]
        return PathString.deletingLastComponent(path)
    }

    private func fileExists(_ path: String) -> Bool { FileSystem.exists(path) }

    private func isDirectory(_ path: String) -> Bool { FileSystem.isDirectory(path) }
}

extension RuntimeLocator {
    /// This process's places (bundle, executable, working directory, host modules,
    /// linked version) and the runtime and service asked for, if any. In an extension
    /// so that the memberwise initializer, which also takes the places (for tests),
    /// stays.
    public init(explicitHome: String?, serviceDirectory: String? = nil) {
        self.explicitHome = explicitHome
        self.serviceDirectory = serviceDirectory
    }
}

/// Files the host ships with itself.
public enum HostResources {
    /// The folder that holds the `cagent_host` package: in a bundle (the single file's
    /// unpacked payload, or beside the executable), else this package's source tree
    /// (`Sources/EmbeddedHost/Python`, found from this file's path at build time: what a
    /// development build runs; a bundle never gets there). Not a SwiftPM resource: the
    /// resource bundle's accessor (`Bundle.module`) would link Foundation and its ICU data
    /// into the shipped binary, and on Linux it too named an absolute build-tree path.
    public static var pythonDirectory: String {
        for root in [OnefileBundle.preparedDirectory, RuntimeLocator.currentExecutableDirectory()].compactMap({ $0 }) {
            let folder = PathString.join(root, RuntimeLocator.bundleHostPythonFolder)
            if FileSystem.exists(PathString.join(folder, "cagent_host")) {
                return folder
            }
        }
        return sourceTreeDirectory
    }

    /// `Sources/EmbeddedHost/Python` of the tree this host was built from.
    static var sourceTreeDirectory: String {
        // This file is Sources/EmbeddedHost/Runtime/RuntimeLocator.swift.
        PathString.join(PathString.deletingLastComponent(PathString.deletingLastComponent(#filePath)), "Python")
    }
}

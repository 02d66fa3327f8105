import Foundation
import Testing
@testable import EmbeddedHost

/// Runtime discovery order and its errors, on folders made for each test.
struct RuntimeLocatorTests {
    /// A fake layout: `project/.venv`, `project/python/main.py`, `bin/runtime`, `bin/service`.
    private func makeLayout(venvVersion: String = "3.11.2", bundle: Bool = false) throws -> (root: String, project: String, bin: String) {
        let root = try Fixtures.temporaryDirectory()
        let project = (root as NSString).appendingPathComponent("project")
        let manager = FileManager.default
        try manager.createDirectory(atPath: "\(project)/.venv/bin", withIntermediateDirectories: true)
        try "home = /usr/bin\nversion = \(venvVersion)\n".write(toFile: "\(project)/.venv/pyvenv.cfg", atomically: true, encoding: .utf8)
        try manager.createDirectory(atPath: "\(project)/python/agents", withIntermediateDirectories: true)
        try "app = None\n".write(toFile: "\(project)/python/main.py", atomically: true, encoding: .utf8)
        let bin = (root as NSString).appendingPathComponent("bin")
        try manager.createDirectory(atPath: bin, withIntermediateDirectories: true)
        if bundle {
            try manager.createDirectory(atPath: "\(bin)/runtime/lib/python3.11", withIntermediateDirectories: true)
            try "".write(toFile: "\(bin)/runtime/lib/python3.11/os.py", atomically: true, encoding: .utf8)
            try manager.createDirectory(atPath: "\(bin)/service", withIntermediateDirectories: true)
            try "".write(toFile: "\(bin)/service/main.py", atomically: true, encoding: .utf8)
        }
        return (root, project, bin)
    }

    private func locator(explicit: String? = nil, bin: String, cwd: String) -> RuntimeLocator {
        RuntimeLocator(explicitHome: explicit, executableDirectory: bin, workingDirectory: cwd,
                       hostModulesDirectory: "/host", linkedVersion: "3.11")
    }

    @Test func findsTheProjectVenvFromAnySubfolder() throws {
        let layout = try makeLayout()
        let runtime = try locator(bin: layout.bin, cwd: "\(layout.project)/python/agents").locate()
        #expect(runtime.source == .virtualEnvironment)
        #expect(runtime.programName == "\(layout.project)/.venv/bin/python")
        #expect(runtime.home == nil)
        #expect(runtime.serviceDirectory == "\(layout.project)/python")
        #expect(runtime.hostModulesDirectory == "/host")
    }

    @Test func aBundleBesideTheExecutableComesBeforeTheVenv() throws {
        let layout = try makeLayout(bundle: true)
        let runtime = try locator(bin: layout.bin, cwd: layout.project).locate()
        #expect(runtime.source == .bundle)
        #expect(runtime.home == "\(layout.bin)/runtime")
        #expect(runtime.programName == "\(layout.bin)/runtime/bin/python3.11")
        #expect(runtime.serviceDirectory == "\(layout.bin)/service")
    }

    @Test func anExplicitHomeComesFirst() throws {
        let layout = try makeLayout(bundle: true)
        let explicit = "\(layout.project)/.venv"
        let runtime = try RuntimeLocator(
            explicitHome: explicit, serviceDirectory: "\(layout.project)/python", executableDirectory: layout.bin,
            workingDirectory: layout.project, hostModulesDirectory: "/host", linkedVersion: "3.11"
        ).locate()
        #expect(runtime.source == .explicit)
        #expect(runtime.programName == "\(explicit)/bin/python")
    }

    @Test func aVenvMadeByAnotherPythonIsRefusedWithTheFix() throws {
        let layout = try makeLayout(venvVersion: "3.12.1")
        #expect {
            try locator(bin: layout.bin, cwd: layout.project).locate()
        } throws: { error in
            guard case SidecarError.runtimeInvalid(_, let reason) = error else { return false }
            return reason.contains("made by Python 3.12.1") && reason.contains("/usr/bin/python3.11 -m venv")
        }
    }

    @Test func nothingFoundListsWhereItLooked() throws {
        let root = try Fixtures.temporaryDirectory()
        #expect {
            try locator(bin: root, cwd: root).locate()
        } throws: { error in
            guard case SidecarError.runtimeNotFound(let searched) = error else { return false }
            return searched.first == "\(root)/runtime" && searched.contains("\(root)/.venv")
                && (error as? SidecarError)?.description.contains("make setup") == true
        }
    }

    /// A prefix whose standard library is sourceless (os.pyc) or in CPython's own
    /// lib/python311.zip: CPython finds it there itself.
    @Test(arguments: ["lib/python3.11/os.pyc", "lib/python311.zip"])
    func aSourcelessOrZippedStandardLibraryIsAPrefix(landmark: String) throws {
        let layout = try makeLayout(bundle: true)
        try FileManager.default.moveItem(atPath: "\(layout.bin)/runtime/lib/python3.11/os.py",
                                         toPath: "\(layout.bin)/runtime/\(landmark)")
        let runtime = try locator(bin: layout.bin, cwd: layout.project).locate()
        #expect(runtime.source == .bundle)
        #expect(runtime.home == "\(layout.bin)/runtime")
        #expect(runtime.interpreter.moduleSearchPaths == nil)
    }

    /// make bundle's layout: the standard library in the folder python3.11 inside
    /// lib/stdlib.zip, which sys.path names (so importlib.metadata never reads the
    /// archive's directory), ahead of lib/python3.11 and lib-dynload; the requirements'
    /// zip likewise.
    @Test func aBundleStandardLibraryIsNamedByItsFolderInsideTheZip() throws {
        let layout = try makeLayout(bundle: true)
        let runtimeRoot = "\(layout.bin)/runtime"
        try FileManager.default.removeItem(atPath: "\(runtimeRoot)/lib/python3.11/os.py")
        try "".write(toFile: "\(runtimeRoot)/lib/stdlib.zip", atomically: true, encoding: .utf8)
        let runtime = try locator(bin: layout.bin, cwd: layout.project).locate()
        #expect(runtime.source == .bundle)
        #expect(runtime.home == runtimeRoot)
        let standard = [
            "\(runtimeRoot)/lib/stdlib.zip/python3.11", "\(runtimeRoot)/lib/python3.11",
            "\(runtimeRoot)/lib/python3.11/lib-dynload",
        ]
        #expect(runtime.interpreter.moduleSearchPaths == standard)

        // The requirements' zip, when there is one: its site-packages folder, after them.
        try FileManager.default.createDirectory(
            atPath: "\(runtimeRoot)/lib/python3.11/dist-packages", withIntermediateDirectories: true)
        try "".write(toFile: "\(runtimeRoot)/lib/python3.11/dist-packages/requirements.zip", atomically: true, encoding: .utf8)
        let withRequirements = try locator(bin: layout.bin, cwd: layout.project).locate()
        #expect(withRequirements.interpreter.moduleSearchPaths
                == standard + ["\(runtimeRoot)/lib/python3.11/dist-packages/requirements.zip/site-packages"])
    }

    @Test func anExplicitPathThatIsNoRuntimeSaysWhy() throws {
        let root = try Fixtures.temporaryDirectory()
        #expect(throws: SidecarError.runtimeInvalid(
            path: root, reason: "neither a virtual environment (pyvenv.cfg) nor a Python 3.11 prefix (lib/python3.11/os.py)")) {
            try locator(explicit: root, bin: root, cwd: root).locate()
        }
    }

    @Test func aServiceFolderWithoutMainIsRefused() throws {
        let layout = try makeLayout()
        let empty = try Fixtures.temporaryDirectory()
        #expect(throws: SidecarError.runtimeInvalid(path: empty, reason: "the service folder has no main.py")) {
            try RuntimeLocator(
                explicitHome: "\(layout.project)/.venv", serviceDirectory: empty, executableDirectory: layout.bin,
                workingDirectory: layout.project, hostModulesDirectory: "/host", linkedVersion: "3.11"
            ).locate()
        }
    }

    /// `SidecarConfiguration.serviceDirectory` nil with `pythonHome` set: the service is
    /// found beside the runtime, as its doc says (it used to fail: "no service folder given").
    @Test func anExplicitVenvFindsTheServiceBesideIt() throws {
        let layout = try makeLayout()
        let elsewhere = try Fixtures.temporaryDirectory()
        let runtime = try locator(explicit: "\(layout.project)/.venv", bin: elsewhere, cwd: elsewhere).locate()
        #expect(runtime.source == .explicit)
        #expect(runtime.serviceDirectory == "\(layout.project)/python")
    }

    @Test func anExplicitPrefixFindsTheBundleServiceBesideIt() throws {
        let layout = try makeLayout(bundle: true)
        let elsewhere = try Fixtures.temporaryDirectory()
        let runtime = try locator(explicit: "\(layout.bin)/runtime", bin: elsewhere, cwd: elsewhere).locate()
        #expect(runtime.home == "\(layout.bin)/runtime")
        #expect(runtime.serviceDirectory == "\(layout.bin)/service")
    }

    @Test func anExplicitRuntimeWithNoServiceBesideItSaysWhatToSet() throws {
        let layout = try makeLayout()
        try FileManager.default.removeItem(atPath: "\(layout.project)/python/main.py")
        let elsewhere = try Fixtures.temporaryDirectory()
        #expect {
            try locator(explicit: "\(layout.project)/.venv", bin: elsewhere, cwd: elsewhere).locate()
        } throws: { error in
            guard case SidecarError.runtimeInvalid(let path, let reason) = error else { return false }
            return path == "\(layout.project)/.venv" && reason.contains("\(layout.project)/python")
                && reason.contains("SidecarConfiguration.serviceDirectory (--service-dir)")
        }
    }

    @Test func theLinkedVersionIsReadFromLibpython() {
        #expect(RuntimeLocator.linkedMajorMinor() == "3.11")
    }
}

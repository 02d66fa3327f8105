import Bridge
import EmbeddedHost
import Foundation

/// `cagent-sidecar python [ARGS...]`: the linked interpreter run as the `python` command,
/// with the runtime this host would use (a bundle has no `python` executable: this is
/// how its subprocess backend starts `-m uvicorn main:app`).
///
/// Handled before argument parsing, so Python's own options (`-m`, `-c`, `-X`) pass
/// through untouched.
enum PythonCommand {
    static let name = "python"

    static func runIfRequested(_ arguments: [String] = CommandLine.arguments) {
        guard arguments.count > 1, arguments[1] == name else { return }
        let runtime: PythonRuntime
        do {
            runtime = try RuntimeLocator(explicitHome: ProcessInfo.processInfo.environment["CAGENT_PYTHON_HOME"]).locate()
        } catch {
            FileHandle.standardError.write(Data("cagent-sidecar python: \(error.description)\n".utf8))
            exit(EXIT_FAILURE)
        }
        let program = runtime.programName ?? RuntimeLocator.currentExecutableDirectory() + "/python"
        exit(PythonInterpreter.runMain(programName: program, pythonHome: runtime.home, arguments: Array(arguments.dropFirst(2))))
    }
}

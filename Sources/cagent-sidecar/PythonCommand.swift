import Bridge
import EmbeddedHost
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `cagent-sidecar python [ARGS...]`: the linked interpreter run as the `python` command,
/// with the runtime this host would use (a bundle has no `python` executable: this is
/// how its subprocess backend starts `-m uvicorn main:app`).
///
/// Handled before argument parsing, so Python's own options (`-m`, `-c`, `-X`) pass
/// through untouched. `CAGENT_PYTHON_HOME` names the runtime (the subprocess backend sets
/// it whenever it runs this executable as its child); otherwise it is found as `run` finds it.
enum PythonCommand {
    static let name = "python"

    static func runIfRequested(_ arguments: [String] = CommandLine.arguments) {
        guard arguments.count > 1, arguments[1] == name else { return }
        let interpreter: InterpreterPaths
        do {
            if let home = ProcessInfo.processInfo.environment["CAGENT_PYTHON_HOME"], !home.isEmpty {
                interpreter = try RuntimeLocator(explicitHome: home).interpreter(at: home)
            } else {
                interpreter = try RuntimeLocator(explicitHome: nil).locate().interpreter
            }
        } catch {
            StandardError.write("cagent-sidecar python: \(error.description)\n")
            exit(EXIT_FAILURE)
        }
        let program = interpreter.programName ?? RuntimeLocator.currentExecutableDirectory() + "/python"
        exit(PythonInterpreter.runMain(
            programName: program, pythonHome: interpreter.home, moduleSearchPaths: interpreter.moduleSearchPaths,
            arguments: Array(arguments.dropFirst(2))))
    }
}

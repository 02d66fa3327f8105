import ArgumentParser

@main
struct CagentSidecar: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cagent-sidecar",
        abstract: "Runs a Python agent service (FastAPI + uvicorn) inside this process, supervised.",
        subcommands: [RunCommand.self],
        defaultSubcommand: RunCommand.self
    )

    /// A single-file build unpacks its payload first (``OnefileLaunch``); `python` runs
    /// the linked interpreter (``PythonCommand``).
    static func main() async {
        OnefileLaunch.prepare()
        PythonCommand.runIfRequested()
        await main(nil)
    }
}

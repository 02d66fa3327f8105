import EmbeddedHost
import Foundation

/// The single-file build (`dist/cagent-sidecar.run`) unpacks its payload before anything
/// looks for the runtime; a plain executable or the bundle folder passes straight through.
enum OnefileLaunch {
    static func prepare() {
        let started = ContinuousClock.now
        do {
            guard let unpacked = try OnefileBundle.prepareRunningExecutable() else { return }
            for warning in unpacked.warnings {
                FileHandle.standardError.write(Data("cagent-sidecar: warning: \(warning)\n".utf8))
            }
            if unpacked.outcome == .unpacked {
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                FileHandle.standardError.write(Data(
                    "cagent-sidecar: unpacked the bundled runtime into \(unpacked.directory) in \(String(format: "%.2f", seconds)) s\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("cagent-sidecar: \(error.description)\n".utf8))
            exit(EXIT_FAILURE)
        }
    }
}

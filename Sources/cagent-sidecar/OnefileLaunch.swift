import EmbeddedHost
import Loopback
#if canImport(Glibc)
import Glibc
#endif

/// The single-file build (`dist/cagent-sidecar.run`) unpacks its payload before anything
/// looks for the runtime; a plain executable or the bundle folder passes straight through.
enum OnefileLaunch {
    static func prepare() {
        let started = ContinuousClock.now
        do {
            guard let unpacked = try OnefileBundle.prepareRunningExecutable() else { return }
            for warning in unpacked.warnings {
                StandardError.write("cagent-sidecar: warning: \(warning)\n")
            }
            if unpacked.outcome == .unpacked {
                let elapsed = ContinuousClock.now - started
                let centiseconds = elapsed.milliseconds / 10
                let seconds = "\(centiseconds / 100).\(centiseconds % 100 < 10 ? "0" : "")\(centiseconds % 100)"
                StandardError.write("cagent-sidecar: unpacked the bundled runtime into \(unpacked.directory) in \(seconds) s\n")
            }
        } catch {
            StandardError.write("cagent-sidecar: \(error.description)\n")
            exit(EXIT_FAILURE)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended, from its `waitpid` status.
public enum ChildExit: Sendable, Equatable, CustomStringConvertible {
    case exited(status: Int32)
    case signaled(signal: Int32)

    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        if status & 0x7F == 0 {
            self = .exited(status: (status >> 8) & 0xFF)
        } else {
            self = .signaled(signal: status & 0x7F)
        }
    }

    public var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signaled(let signal): "was killed by signal \(signal) (\(Self.name(of: signal)))"
        }
    }

    static func name(of signal: Int32) -> String {
        switch signal {
        case SIGKILL: "SIGKILL"
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }
}

import CSpawn
import FoundationEssentials
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process that never outlives the host.
///
/// The child is forked by a thread of its own, which then waits for it (`waitpid`) and
/// ends only when the child has ended. On Linux the child has `PR_SET_PDEATHSIG` set to
/// SIGKILL, which fires when the thread that forked it exits: since that thread lives
/// exactly as long as the child, the signal comes only when the host itself dies (even
/// by SIGKILL), never early. The child leads its own process group, so ``signalGroup(_:)``
/// reaches what it started too. Its stdout and stderr go to the host's log, line by line.
final class ChildProcess: Sendable {
    struct Command: Sendable {
        var executable: String
        /// `argv[0]` first.
        var arguments: [String]
        var environment: [String: String]
        var directory: String
    }

    let pid: Int32
    let stdout: ChildOutput
    let stderr: ChildOutput
    private struct State {
        var exit: ChildExit?
        var waiters: [UInt64: CheckedContinuation<ChildExit?, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    private init(pid: Int32, stdout: ChildOutput, stderr: ChildOutput) {
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Starts the command; throws `POSIXError` when it cannot be started (no such
    /// program, not executable, no such directory).
    static func launch(_ command: Command, logger: Logger) async throws -> ChildProcess {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard cagent_pipe_cloexec(&outPipe) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        guard cagent_pipe_cloexec(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        let (outRead, outWrite, errRead, errWrite) = (outPipe[0], outPipe[1], errPipe[0], errPipe[1])

        let started: Result<ChildProcess, POSIXError> = await withCheckedContinuation { continuation in
            let thread = HostThread {
                let result = spawn(command, stdout: outWrite, stderr: errWrite)
                close(outWrite)
                close(errWrite)
                switch result {
                case .failure(let error):
                    close(outRead)
                    close(errRead)
                    continuation.resume(returning: .failure(error))
                case .success(let pid):
                    var childLogger = logger
                    childLogger[metadataKey: "pid"] = "\(pid)"
                    let child = ChildProcess(
                        pid: pid,
                        stdout: ChildOutput(descriptor: outRead, stream: "stdout", logger: childLogger),
                        stderr: ChildOutput(descriptor: errRead, stream: "stderr", logger: childLogger))
                    continuation.resume(returning: .success(child))
                    // This thread is the child's parent for PR_SET_PDEATHSIG: it stays until
                    // the child has ended.
                    child.reap()
                }
            }
            thread.name = "cagent-child-\(command.arguments.first ?? "")"
            thread.start()
        }
        return try started.get()
    }

    private static func spawn(_ command: Command, stdout: Int32, stderr: Int32) -> Result<Int32, POSIXError> {
        let arguments = command.arguments.map { strdup($0) }
        let environment = command.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") }
        defer {
            for pointer in arguments + environment { free(pointer) }
        }
        var error: Int32 = 0
        #if os(Linux)
        let deathSignal = SIGKILL
        #else
        let deathSignal: Int32 = 0
        #endif
        let pid = (arguments + [nil]).withUnsafeBufferPointer { argv in
            (environment + [nil]).withUnsafeBufferPointer { envp in
                cagent_spawn(command.executable, argv.baseAddress, envp.baseAddress, command.directory,
                             stdout, stderr, deathSignal, &error)
            }
        }
        guard pid > 0 else { return .failure(POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO)) }
        return .success(pid)
    }

    /// Blocks the spawning thread until the child ends, then tells the waiters.
    private func reap() {
        // Wait without reaping first, then reap and record under the lock that
        // signalGroup takes: no signal can go to the pid once it may be recycled.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        let waiters = state.withLock { state in
            var status: Int32 = 0
            var exit: ChildExit
            while true {
                if waitpid(pid, &status, 0) >= 0 {
                    exit = ChildExit(waitStatus: status)
                    break
                }
                if errno != EINTR {
                    // Reaped by someone else (SIGCHLD ignored process-wide): status lost.
                    exit = .signaled(signal: 0)
                    break
                }
            }
            state.exit = exit
            defer { state.waiters.removeAll() }
            return state.waiters.values.map { ($0, exit) }
        }
        for (waiter, exit) in waiters { waiter.resume(returning: exit) }
    }

    /// nil while the child runs.
    var exit: ChildExit? { state.withLock { $0.exit } }

    func waitForExit() async -> ChildExit {
        // Without a deadline the wait always ends with an exit.
        await waitForExit(timeout: nil)!
    }

    /// Waits at most `timeout` (forever when nil); nil when the child is still running then.
    func waitForExit(timeout: Duration?) async -> ChildExit? {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withCheckedContinuation { continuation in
            let exit = state.withLock { state in
                if state.exit == nil { state.waiters[id] = continuation }
                return state.exit
            }
            if let exit {
                continuation.resume(returning: exit)
            } else if let timeout {
                // Started once the waiter is registered, so it cannot fire too early. Left to
                // run out after an exit: it then finds nothing to resume.
                Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    self?.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
                }
            }
        }
    }

    /// Sends `signal` to the child's process group (the child and what it started);
    /// does nothing once the child has been reaped, so a recycled pid is never hit.
    func signalGroup(_ signal: Int32) {
        state.withLock { state in
            guard state.exit == nil else { return }
            kill(-pid, signal)
        }
    }
}

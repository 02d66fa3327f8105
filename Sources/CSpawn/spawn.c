// fork/exec by hand rather than posix_spawn: the child must call prctl(PR_SET_PDEATHSIG)
// and check its parent between fork and exec, which posix_spawn has no attribute for.
// The other way, an exec wrapper (`setpriv --pdeathsig`), would depend on util-linux
// being installed and could not re-check the parent after setting the signal.

#define _GNU_SOURCE
#include "cagent_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/// Closes every descriptor from `first` up: close_range where the kernel has it
/// (Linux 5.9), else one by one up to the descriptor limit.
static void close_from(int first) {
#if defined(__linux__) && defined(SYS_close_range)
    if (syscall(SYS_close_range, (unsigned int)first, ~0U, 0) == 0) return;
#endif
    struct rlimit limit;
    int top = 65536;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < 1048576) {
        top = (int)limit.rlim_cur;
    }
    for (int fd = first; fd < top; fd++) close(fd);
}

/// In the child: reports errno through the status pipe and exits.
static void fail_child(int status_fd) {
    int code = errno;
    ssize_t ignored = write(status_fd, &code, sizeof code);
    (void)ignored;
    _exit(127);
}

pid_t cagent_spawn(const char *path, char *const argv[], char *const envp[], const char *directory,
                   int stdout_fd, int stderr_fd, int parent_death_signal, int *error) {
    // The child writes errno here if anything before exec fails; exec closes it (CLOEXEC),
    // so reading zero bytes in the parent means the exec happened.
    int status_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) != 0) {
        *error = errno;
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *error = errno;
        close(status_pipe[0]);
        close(status_pipe[1]);
        return -1;
    }
    if (pid == 0) {
        int status_fd = status_pipe[1];
        // A group of its own: the host signals the service and whatever it started
        // (MCP servers) together, and a terminal's Ctrl-C reaches only the host.
        if (setpgid(0, 0) != 0) fail_child(status_fd);
#ifdef __linux__
        if (parent_death_signal > 0) {
            if (prctl(PR_SET_PDEATHSIG, parent_death_signal) != 0) fail_child(status_fd);
            // The host may have died between fork and prctl: then nobody would send the
            // signal, and the child would be an orphan already.
            if (getppid() != parent) _exit(127);
        }
#endif
        // The host's signal handling is not the service's: dispositions set to ignore
        // (and the blocked mask) survive exec, so reset them.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction fallback;
        memset(&fallback, 0, sizeof fallback);
        fallback.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &fallback, NULL);

        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0) fail_child(status_fd);
        if (dup2(null_fd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) fail_child(status_fd);
        // Keep the status pipe at 3 (close-on-exec), close everything else the host holds.
        if (status_fd != 3) {
            if (dup2(status_fd, 3) < 0) fail_child(status_fd);
            status_fd = 3;
        }
        if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) != 0) fail_child(status_fd);
        close_from(4);
        if (directory != NULL && chdir(directory) != 0) fail_child(status_fd);
        execve(path, argv, envp);
        fail_child(status_fd);
    }
    // Also here, so that a signal to the group right after this returns cannot miss it.
    setpgid(pid, pid);
    close(status_pipe[1]);
    int code = 0;
    ssize_t got;
    do {
        got = read(status_pipe[0], &code, sizeof code);
    } while (got < 0 && errno == EINTR);
    close(status_pipe[0]);
    if (got == (ssize_t)sizeof code) {
        // The child failed before exec and has exited: reap it here.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *error = code;
        return -1;
    }
    return pid;
}

int cagent_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int cagent_set_parent_death_signal(int signal, pid_t expected_parent) {
#ifdef __linux__
    if (prctl(PR_SET_PDEATHSIG, signal) != 0) return -1;
    return getppid() == expected_parent ? 1 : 0;
#else
    (void)signal;
    (void)expected_parent;
    errno = ENOSYS;
    return -1;
#endif
}

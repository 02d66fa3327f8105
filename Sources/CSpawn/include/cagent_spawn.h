#ifndef CAGENT_SPAWN_H
#define CAGENT_SPAWN_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` (NULL-terminated) in `directory`, with stdin from
/// /dev/null and stdout/stderr on the given descriptors, in a process group of its own.
///
/// On Linux, `parent_death_signal` (e.g. SIGKILL) is delivered to the child when the
/// *thread* that called this function exits, or the whole host dies, even by SIGKILL:
/// call it from a thread that outlives the child. Between fork and exec the child only
/// makes async-signal-safe calls: setpgid, prctl, getppid, sigprocmask, sigaction, open,
/// dup2, fcntl, close_range (or close), chdir, execve, write, _exit.
///
/// Returns the child's pid, or -1 with `*error` set to the errno of what failed (in the
/// parent, or in the child before exec: a missing program is ENOENT here, not a child
/// that exits with 127).
pid_t cagent_spawn(const char *path, char *const argv[], char *const envp[], const char *directory,
                   int stdout_fd, int stderr_fd, int parent_death_signal, int *error);

/// pipe2(fds, O_CLOEXEC): glibc declares pipe2 only under _GNU_SOURCE, which Swift's
/// Glibc module does not define. Close-on-exec, so that no other child the host starts
/// inherits the write end and keeps the pipe open.
int cagent_pipe_cloexec(int fds[2]);

/// For this process: asks the kernel to send `signal` when the parent ends (Linux
/// PR_SET_PDEATHSIG; the parent is the *thread* that forked this process), then checks
/// that the parent is still `expected_parent`. Returns 1 when the signal is armed and the
/// parent is there, 0 when the parent is already gone (re-parented before the signal was
/// armed: nobody will send it), -1 with errno set when prctl failed, or ENOSYS where the
/// system has no such request (not Linux).
int cagent_set_parent_death_signal(int signal, pid_t expected_parent);

/// Names the calling thread (`ps -T`, `top -H`, gdb): pthread_setname_np, likewise
/// declared only under _GNU_SOURCE. Linux keeps 15 bytes; longer names are cut here
/// rather than refused. Returns 0 or an errno value. (thread_name.c)
int cagent_set_thread_name(const char *name);

#endif

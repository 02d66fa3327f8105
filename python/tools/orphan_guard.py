"""MCP servers die with the process that started them, even when it is SIGKILLed.

The SDK starts each server in a session of its own (``start_new_session``) and takes it
down on a normal close; a parent killed outright runs no code at all, and a server only
notices the end of its stdin when it reads it: one busy in a tool call, or kept alive by
a worker thread, a child or a bug, outlives the host. On Linux the kernel can send a
signal to a process when its parent ends (``PR_SET_PDEATHSIG``), but the SDK spawns
through anyio, which takes no ``preexec_fn`` (and running Python between fork and exec
in a threaded host is unsafe anyway). So the server runs under util-linux's ``setpriv
--pdeathsig KILL``, which sets it and execs the server: same pid, nothing left running
in between.

Limits: the "parent" is the thread that spawned the server, here the event loop's,
which lives as long as the service; the server's own children are not covered (the SDK
kills the server's process group on a normal close, nothing does on SIGKILL); a parent
that dies between the fork and setpriv's prctl (microseconds) leaves the server to the
end of its stdin.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import sys

log = logging.getLogger("tools.server")

#: SIGKILL: the host is gone, nobody reads the server's answers; a server that handles
#: SIGTERM slowly or not at all must not stay.
SIGNAL = "KILL"


@functools.cache
def setpriv() -> str | None:
    """util-linux's setpriv when it has --pdeathsig (2.33+), else None (logged once).

    Blocking (runs ``setpriv --help`` once): call it from a worker thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    path = shutil.which("setpriv")
    if path is not None:
        try:
            usage = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            usage = ""
        if "--pdeathsig" in usage:
            return path
    log.warning(
        "setpriv with --pdeathsig (util-linux 2.33+) not found: MCP servers may outlive a host "
        "that is killed (SIGKILL) while they are busy"
    )
    return None


def guarded(command: str, args: list[str]) -> tuple[str, list[str]]:
    """The command line that runs ``command args`` with the parent-death signal set;
    unchanged where that is not possible (not Linux, no setpriv: see ``setpriv``)."""
    wrapper = setpriv()
    if wrapper is None:
        return command, args
    return wrapper, ["--pdeathsig", SIGNAL, "--", command, *args]

"""A stdio MCP server for the tests, written with the SDK's MCPServer.

Run as ``python sample_server.py [--prefix P] [--linger S]``; ``--prefix`` lets a second
copy offer differently behaving tools under the same names (for the name clash tests);
``--linger`` makes a server that outlives its client by S seconds (the orphan tests).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

parser = argparse.ArgumentParser()
parser.add_argument("--prefix", default="")
parser.add_argument(
    "--linger",
    type=float,
    default=0.0,
    help="Keep the process alive this many seconds after its client is gone (a non-daemon "
    "worker thread, as real servers have): the end of stdin alone does not end it.",
)
options = parser.parse_args()

if options.linger:
    import threading
    import time

    threading.Thread(target=time.sleep, args=(options.linger,), name="linger", daemon=False).start()

server = MCPServer("sample")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text (with the server's prefix)."""
    return options.prefix + text


@server.tool()
def fail(reason: str = "it failed") -> str:
    """Always fails with a tool error (isError result)."""
    raise ToolError(reason)


@server.tool()
async def slow(seconds: float, mark: str = "") -> str:
    """Sleep, then answer. `mark`: a file created once the call has begun, so that a test
    waits for the call to be in flight rather than for a length of time."""
    if mark:
        Path(mark).touch()
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def crash(code: int = 3) -> str:
    """Kill the server process at once, mid-call."""
    print("sample server: crashing on purpose", file=sys.stderr, flush=True)
    os._exit(code)


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


if __name__ == "__main__":
    server.run("stdio")

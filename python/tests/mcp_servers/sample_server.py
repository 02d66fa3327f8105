"""A stdio MCP server for the tests, written with the SDK's MCPServer.

Run as ``python sample_server.py [--prefix P]``; ``--prefix`` lets a second copy offer
differently behaving tools under the same names (for the name clash tests).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

parser = argparse.ArgumentParser()
parser.add_argument("--prefix", default="")
options = parser.parse_args()

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
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
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

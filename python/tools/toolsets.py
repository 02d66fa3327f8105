"""Toolsets: every configured MCP server's tools behind one list and one call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config_file import ServerConfig, load_toolsets_file
from .errors import ToolError
from .models import ServerStatus, ToolInfo, ToolListing, ToolResult
from .server import ServerConnection, describe, load_sdk

if TYPE_CHECKING:
    from mcp import MCPError
    from mcp_types import CallToolResult

# The SDK is imported after load_sdk() (see tools.server for why).

log = logging.getLogger("tools")

#: Separator of ``<server>__<tool>``, the name a tool gets when two servers share it.
QUALIFIER = "__"


class Toolsets:
    """The MCP servers of the toolsets file, started on first use and closed by ``aclose``.

    Safe to use from many tasks at once: calls to one server share its session (MCP
    multiplexes requests), and a server is started by one caller at a time.
    """

    def __init__(
        self, servers: Mapping[str, ServerConfig], timeout_s: float = 30.0, *, start_timeout_s: float = 60.0
    ) -> None:
        #: Bound of one tools/call or tools/list request.
        self.timeout_s = timeout_s
        #: Bound of a server's start (spawn + initialize), apart: launchers such as
        #: uvx or npx may install the server first.
        self.start_timeout_s = start_timeout_s
        self._servers = {
            name: ServerConnection(name, config, start_timeout_s) for name, config in servers.items()
        }
        #: Exposed tool name -> (server, the server's own tool name), from the last listing.
        self._index: dict[str, tuple[str, str]] = {}
        self._closed = False

    @classmethod
    def from_file(cls, path: Path | None, timeout_s: float, *, start_timeout_s: float = 60.0) -> "Toolsets":
        """Toolsets of the toolsets file at ``path`` (see ``tools.config_file``); ``None``: none.

        Raises ``ToolsetsFileError`` for a file that cannot be read or parsed. Starts nothing.
        """
        servers = {} if path is None else load_toolsets_file(path)
        return cls(servers, timeout_s, start_timeout_s=start_timeout_s)

    @property
    def server_names(self) -> list[str]:
        return list(self._servers)

    @property
    def open_sessions(self) -> int:
        """Servers whose session task is alive (starting, running or stopping)."""
        return sum(1 for server in self._servers.values() if server.running)

    async def list_tools(self) -> list[ToolInfo]:
        """Every server's tools, starting servers as needed; raises ``ToolError`` when a
        server cannot be started or listed (naming it)."""
        listing = await self.listing()
        failures = listing.failures()
        if failures:
            raise ToolError("; ".join(failures))
        return listing.tools

    async def listing(self) -> ToolListing:
        """Every server's tools and status, starting servers as needed (all at once).

        A server that cannot be started or listed is reported in ``servers`` with its
        error, and the tools of the others are still listed (and callable). Raises
        ``ToolError`` only once the toolsets are closed.
        """
        if self._closed:
            raise ToolError("the tools are shut down")
        servers = list(self._servers.values())
        outcomes = await asyncio.gather(*(self._try_list_server(server) for server in servers))
        tools = [tool for outcome in outcomes if isinstance(outcome, list) for tool in outcome]
        statuses = [
            ServerStatus(name=server.name, ok=True)
            if isinstance(outcome, list)
            else ServerStatus(name=server.name, ok=False, error=str(outcome))
            for server, outcome in zip(servers, outcomes)
        ]
        return ToolListing(tools=self._name_tools(tools), servers=statuses)

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> ToolResult:
        """Call ``tool`` (a name from ``list_tools``) with ``arguments``, bounded by ``timeout_s``.

        Never raises for a failed call: an unknown tool, bad arguments, the tool's own
        error, a timeout, or a server that crashed during the call (it is restarted on
        the next use) all come back as ``ToolResult(is_error=True)`` with a message.
        Raises ``ToolError`` only once the toolsets are closed.
        """
        if self._closed:
            raise ToolError("the tools are shut down")
        target = self._index.get(tool)
        if target is None:
            # Not listed yet, or listed before a server changed its tools.
            listing = await self.listing()
            target = self._index.get(tool)
            if target is None:
                known = ", ".join(sorted(self._index)) or "none"
                message = f"unknown tool {tool!r} (available: {known})"
                failures = listing.failures()
                if failures:
                    # The tool may be one of theirs.
                    message = f"cannot look up tool {tool!r}: {'; '.join(failures)} ({message})"
                return ToolResult.error(tool, message)
        await load_sdk()
        from mcp import MCPError

        server_name, own_name = target
        server = self._servers[server_name]
        try:
            session = await server.session()
        except ToolError as error:
            return ToolResult.error(tool, str(error))
        try:
            result = await session.call_tool(own_name, arguments or {}, read_timeout_seconds=self.timeout_s)
        except MCPError as error:
            return self._call_error(tool, server, session, error)
        except Exception as error:  # a malformed reply, an output schema mismatch, ...
            log.warning("tool %r on MCP server %r failed", tool, server_name, exc_info=True)
            return ToolResult.error(tool, f"tool {tool!r} failed: {describe(error)}")
        return _tool_result(tool, result)

    async def aclose(self) -> None:
        """Stop every server; calls in flight end with an error result. Idempotent."""
        self._closed = True
        await asyncio.gather(*(server.aclose() for server in self._servers.values()))

    async def _try_list_server(self, server: ServerConnection) -> list[ToolInfo] | ToolError:
        try:
            return await self._list_server(server)
        except ToolError as error:
            return error

    async def _list_server(self, server: ServerConnection) -> list[ToolInfo]:
        await load_sdk()
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED, PaginatedRequestParams

        session = None
        try:
            session = await server.session()
            tools: list[ToolInfo] = []
            cursor: str | None = None
            while True:
                params = PaginatedRequestParams(cursor=cursor) if cursor else None
                async with asyncio.timeout(self.timeout_s):
                    page = await session.list_tools(params=params)
                tools += [
                    ToolInfo(
                        name=tool.name,
                        description=tool.description or "",
                        input_schema=tool.input_schema or {"type": "object"},
                        server=server.name,
                    )
                    for tool in page.tools
                ]
                cursor = page.next_cursor
                if not cursor:
                    return tools
        except ToolError:
            raise
        except MCPError as error:
            if error.code == CONNECTION_CLOSED and session is not None:
                server.mark_dead(session)
            raise ToolError(f"MCP server {server.name!r}: listing its tools failed: {error.message}") from None
        except TimeoutError:
            message = f"MCP server {server.name!r}: listing its tools timed out after {self.timeout_s:g} s"
            raise ToolError(message) from None
        except Exception as error:
            raise ToolError(f"MCP server {server.name!r}: listing its tools failed: {describe(error)}") from None

    def _name_tools(self, tools: list[ToolInfo]) -> list[ToolInfo]:
        # A name offered by two servers is qualified for both, so neither silently wins.
        owners: dict[str, int] = {}
        for tool in tools:
            owners[tool.name] = owners.get(tool.name, 0) + 1
        named: list[ToolInfo] = []
        index: dict[str, tuple[str, str]] = {}
        for tool in tools:
            own_name = tool.name
            if owners[own_name] > 1:
                tool = tool.model_copy(update={"name": f"{tool.server}{QUALIFIER}{own_name}"})
            index[tool.name] = (tool.server, own_name)
            named.append(tool)
        clashes = sorted(name for name, count in owners.items() if count > 1)
        if clashes:
            log.info("tools offered by several MCP servers, qualified as <server>__<tool>: %s", clashes)
        self._index = index
        return named

    def _call_error(self, tool: str, server: ServerConnection, session: Any, error: MCPError) -> ToolResult:
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        if error.code == CONNECTION_CLOSED:
            if self._closed:
                return ToolResult.error(tool, f"tool {tool!r} was interrupted: the tools are shutting down")
            server.mark_dead(session)
            return ToolResult.error(
                tool,
                f"MCP server {server.name!r} exited or closed the connection during the call to {tool!r}; "
                f"it will be restarted on next use{server.stderr_excerpt()}",
            )
        if error.code == REQUEST_TIMEOUT:
            return ToolResult.error(tool, f"tool {tool!r} timed out after {self.timeout_s:g} s")
        return ToolResult.error(tool, f"tool {tool!r} failed: {error.message} (MCP error {error.code})")


def _tool_result(tool: str, result: CallToolResult) -> ToolResult:
    return ToolResult(
        tool=tool,
        content=[block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content],
        is_error=result.is_error,
        structured=result.structured_content,
    )

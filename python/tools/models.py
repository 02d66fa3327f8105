"""What the tools package hands out: tool descriptions and call results."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ToolInfo(BaseModel):
    #: The name to call it by: the server's own tool name, or ``<server>__<tool>`` when
    #: two servers offer a tool of the same name.
    name: str
    description: str = ""
    #: JSON schema of the tool's ``arguments``.
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    #: Name of the MCP server (in the toolsets file) that offers it.
    server: str


class ServerStatus(BaseModel):
    #: The server's name in the toolsets file.
    name: str
    #: True when the server is running and listed its tools.
    ok: bool
    #: Why it is not: it failed to start (with the end of its stderr), or listing timed out.
    error: str | None = None


class ToolListing(BaseModel):
    """Every tool of the servers that answered, and how each server fared: one broken
    server does not hide the tools of the others."""

    model_config = ConfigDict(defer_build=True)  # built on the first listing

    tools: list[ToolInfo]
    servers: list[ServerStatus]

    def failures(self) -> list[str]:
        return [server.error or f"MCP server {server.name!r} failed" for server in self.servers if not server.ok]


class ToolResult(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on the first tool call

    tool: str
    #: MCP content blocks as JSON, e.g. ``[{"type": "text", "text": "5"}]``. Errors made
    #: here (timeout, crash, unknown tool) are one text block with the message.
    content: list[dict[str, Any]]
    is_error: bool = False
    #: The tool's ``structuredContent``, when it returns one.
    structured: Any = None

    @classmethod
    def error(cls, tool: str, message: str) -> "ToolResult":
        return cls(tool=tool, content=[{"type": "text", "text": message}], is_error=True)

    def text(self) -> str:
        """The result as text for a model: text blocks joined, other blocks as JSON."""
        parts = []
        for block in self.content:
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            else:
                parts.append(json.dumps(block))
        if not parts and self.structured is not None:
            parts.append(json.dumps(self.structured))
        return "\n".join(parts)

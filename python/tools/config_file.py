"""The toolsets file: which stdio MCP servers the service may start.

A JSON object with one key, ``servers`` (``mcpServers`` is accepted too, so a
Claude-Desktop-style config can be used as is), mapping a server name to how to
start it::

    {
      "servers": {
        "time": {
          "command": "mcp-server-time",
          "args": ["--local-timezone", "UTC"],
          "env": {"TZ": "UTC"},
          "cwd": "/tmp"
        }
      }
    }

- ``command`` (required): the executable; a bare name is looked up on ``PATH``.
- ``args``: list of strings, default ``[]``.
- ``env``: string to string, added to a minimal inherited environment
  (``HOME``, ``PATH``, ``USER``, ... — the MCP SDK's default), default ``{}``.
- ``cwd``: working directory, default the service's; a relative path is taken
  relative to the toolsets file.

Server names are letters, digits, ``_`` and ``-`` (they may prefix tool names).
Unknown keys are errors, so a typo does not silently drop a setting.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from validation import problems

SERVER_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class ToolsetsFileError(ValueError):
    """The toolsets file is missing, not JSON, or does not match the format."""


class ServerConfig(BaseModel):
    """How to start one stdio MCP server."""

    # defer_build: built when a toolsets file is read, not at every launch.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None


class ToolsetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    servers: dict[str, ServerConfig] = Field(default_factory=dict, alias="mcpServers")


def load_toolsets_file(path: Path) -> dict[str, ServerConfig]:
    """Server configs by name from ``path``; raises ``ToolsetsFileError`` naming file and field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ToolsetsFileError(f"toolsets file {path}: cannot read it: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ToolsetsFileError(f"toolsets file {path}: not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ToolsetsFileError(f"toolsets file {path}: expected a JSON object with a 'servers' key")
    if "servers" in raw and "mcpServers" in raw:
        raise ToolsetsFileError(f"toolsets file {path}: give either 'servers' or 'mcpServers', not both")
    try:
        parsed = ToolsetsFile.model_validate(raw)
    except ValidationError as error:
        raise ToolsetsFileError(f"toolsets file {path}: {problems(error.errors(), '(top level)')}") from None
    servers: dict[str, ServerConfig] = {}
    for name, server in parsed.servers.items():
        if not re.match(SERVER_NAME_PATTERN, name):
            raise ToolsetsFileError(
                f"toolsets file {path}: servers.{name}: server names are 1-64 letters, digits, '_' or '-'"
            )
        if server.cwd is not None and not server.cwd.is_absolute():
            server = server.model_copy(update={"cwd": path.parent / server.cwd})
        servers[name] = server
    return servers

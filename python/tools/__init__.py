"""MCP tools: stdio MCP servers from the toolsets file, wrapped with the official SDK.

``Toolsets`` is what the service and agents use; see ``tools.config_file`` for the
file format.
"""

from .config_file import ServerConfig, ToolsetsFileError, load_toolsets_file
from .errors import ToolError
from .models import ServerStatus, ToolInfo, ToolListing, ToolResult
from .toolsets import Toolsets

__all__ = [
    "ServerConfig",
    "ServerStatus",
    "ToolError",
    "ToolInfo",
    "ToolListing",
    "ToolResult",
    "Toolsets",
    "ToolsetsFileError",
    "load_toolsets_file",
]

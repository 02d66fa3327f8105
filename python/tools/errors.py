"""Errors of the tools package."""


class ToolError(RuntimeError):
    """The tools cannot do what was asked at all: the toolsets are shut down, or an MCP
    server cannot be started or listed. Failures of a single tool call are not raised:
    they come back as ``ToolResult(is_error=True)``."""
